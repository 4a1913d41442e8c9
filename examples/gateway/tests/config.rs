//! A bad configuration is refused at start with the file, the line and
//! what is wrong; never a panic, never a half-started gateway.

use std::path::PathBuf;
use std::process::Command;

use grt_gateway::Config;

/// Writes `text` to a fresh file named `name` and returns its path.
fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("grt-gateway-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const BAD_BALANCER: &str = r#"listen = "127.0.0.1:0"

[[route]]
prefix = "/api"
balancer = "fastest"
upstreams = [ { addr = "127.0.0.1:9001" } ]
"#;

#[test]
fn load_names_the_file_and_the_line() {
    let path = write("bad-balancer.toml", BAD_BALANCER);
    let err = Config::load(&path).unwrap_err();
    assert_eq!(err.file, path);
    assert_eq!(err.line, Some(5));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}:5:12: unknown balancer \"fastest\"",
            path.display()
        )),
        "{text}"
    );
    assert!(
        text.contains("weighted_round_robin"),
        "the valid names are listed: {text}"
    );
}

#[test]
fn a_missing_file_is_an_error_too() {
    let err = Config::load(std::path::Path::new("/nonexistent/gateway.toml")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/gateway.toml: cannot read"),
        "{err}"
    );
}

#[test]
fn the_binary_refuses_a_bad_file_with_status_2() {
    let path = write("bad-syntax.toml", "listen = \"127.0.0.1:0\"\n[[route]]\nprefix = \"/\"\nupstreams = [ { addr = \"127.0.0.1:1\" ]\n");
    let output = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("gateway: {}:4:", path.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
