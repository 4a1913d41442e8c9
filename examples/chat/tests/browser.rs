//! The chat in a real browser: two headless Chromium windows open the
//! page in the same room; one types a message and clicks Send, the other
//! shows it in its log; then the other answers with the Enter key.
//!
//! It needs `chromium` and `chromedriver` (Debian: `apt-get install
//! chromium chromium-driver`), so it runs only when asked:
//!
//! ```text
//! GRT_CHAT_BROWSER_TEST=1 cargo test -p grt-chat --test browser
//! ```
//!
//! Without the variable it says it is skipped and passes, so that `cargo
//! test --workspace` works on a machine without a browser; `.ci/run`
//! installs both and sets it. With `GRT_CHAT_SCREENSHOT_DOCS=1` as well,
//! it also refreshes the book's picture, `docs/src/img/chat-two-pages.png`.
//!
//! The browser is driven over WebDriver by the small client in
//! `webdriver/mod.rs` (which says why it is not a crate). Every wait is
//! for a condition in a page, asked again until it holds.

mod common;
mod webdriver;

use std::path::{Path, PathBuf};

use common::{TestServers, PATIENCE};
use grt_chat::Config;
use serde_json::{json, Value};
use webdriver::{Driver, Session};

/// Each browser window, in CSS pixels: small, so that two fit side by
/// side in the book.
const WIDTH: u32 = 520;
const HEIGHT: u32 = 480;

/// The text of every line in a page's log, notes ("Connected.")
/// included.
const LOG_LINES: &str =
    "return Array.from(document.querySelectorAll('#log .line')).map(e => e.textContent);";

/// W3C WebDriver's key code for Enter.
const ENTER: &str = "\u{E007}";

#[test]
fn two_browser_pages_talk_through_the_hub() {
    if std::env::var_os("GRT_CHAT_BROWSER_TEST").is_none_or(|v| v != "1") {
        eprintln!(
            "skipped: set GRT_CHAT_BROWSER_TEST=1 to run the chat in headless Chromium \
             (needs the chromium and chromium-driver packages)"
        );
        return;
    }
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let log = out_dir.join("chromedriver.log");
    let driver = Driver::start(&log, PATIENCE).unwrap_or_else(|err| {
        panic!("cannot start chromedriver (is chromium-driver installed?): {err}")
    });
    let server = TestServers::one(Config::default());
    let url = format!("http://{}/?room=e2e", server.addr());

    let one = driver.session(WIDTH, HEIGHT).expect("a first browser");
    let two = driver.session(WIDTH, HEIGHT).expect("a second browser");
    for page in [&one, &two] {
        page.goto(&url).expect("open the chat page");
        wait_for_line(page, "Connected.");
    }
    server.wait_for("both pages to join the hub", |s| s.hub.clients == 2);

    // Page one: type, click Send.
    let said = "hello from page one";
    let input = one.find("#text").expect("the input box");
    one.type_into(&input, said).expect("type");
    one.click(&one.find("#send").expect("the Send button"))
        .expect("click Send");
    wait_for_line(&two, said);
    wait_for_line(&one, said); // the sender hears its own message too

    // Page two answers with the Enter key.
    let answer = "hi, page one: the hub passed it on";
    let input = two.find("#text").expect("the input box");
    two.type_into(&input, &format!("{answer}{ENTER}"))
        .expect("type and press Enter");
    wait_for_line(&one, answer);
    wait_for_line(&two, answer);

    // Both logs read the same conversation.
    for page in [&one, &two] {
        let lines = page.run(LOG_LINES, json!([])).expect("read the log");
        assert_eq!(lines, json!(["Connected.", said, answer]));
        let input = page
            .run("return document.getElementById('text').value;", json!([]))
            .expect("read the input box");
        assert_eq!(input, json!(""), "the input box is cleared after sending");
    }

    let received = two.screenshot().expect("a screenshot of page two");
    save(&out_dir.join("chat-e2e.png"), &received);
    let sent = one.screenshot().expect("a screenshot of page one");
    let both = side_by_side(&one, &sent, &received).expect("the two screenshots side by side");
    let both_path = out_dir.join("chat-two-pages.png");
    save(&both_path, &both);
    if std::env::var_os("GRT_CHAT_SCREENSHOT_DOCS").is_some_and(|v| v == "1") {
        // examples/chat → the repository's root.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .expect("examples/chat is two levels down");
        save(&root.join("docs/src/img/chat-two-pages.png"), &both);
    }
}

/// Waits until `page`'s log has a line reading `text`.
fn wait_for_line(page: &Session<'_>, text: &str) {
    page.wait_for(
        &format!("the line {text:?}"),
        LOG_LINES,
        PATIENCE,
        |lines| {
            lines
                .as_array()
                .is_some_and(|lines| lines.iter().any(|line| line == text))
        },
    )
    .unwrap_or_else(|err| panic!("{err}"));
}

/// Puts two screenshots side by side, captioned, by letting the browser
/// lay them out in `page` and taking a screenshot of the layout: no image
/// library needed. Leaves `page` showing the composition.
fn side_by_side(page: &Session<'_>, left: &[u8], right: &[u8]) -> std::io::Result<Vec<u8>> {
    let data_url = |png: &[u8]| {
        format!(
            "data:image/png;base64,{}",
            data_encoding::BASE64.encode(png)
        )
    };
    // Room for both, whatever the browser's own frame takes.
    page.set_window_size(2 * WIDTH + 200, HEIGHT + 300)?;
    let html = format!(
        "<body style='margin:0'><div id='both' style='display:inline-flex;gap:10px;padding:10px;\
         background:#cfd8dc;font:13px sans-serif'>\
         <figure style='margin:0'><img src='{}' style='display:block;border:1px solid #90a4ae'>\
         <figcaption>page one: typed, clicked Send</figcaption></figure>\
         <figure style='margin:0'><img src='{}' style='display:block;border:1px solid #90a4ae'>\
         <figcaption>page two: received; answered with Enter</figcaption></figure></div></body>",
        data_url(left),
        data_url(right)
    );
    page.goto("about:blank")?;
    page.run(
        "document.open(); document.write(arguments[0]); document.close();",
        json!([html]),
    )?;
    page.wait_for(
        "the screenshots to be laid out",
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0);",
        PATIENCE,
        |done| *done == Value::Bool(true),
    )?;
    page.element_screenshot(&page.find("#both")?)
}

fn save(path: &Path, png: &[u8]) {
    std::fs::write(path, png)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
    eprintln!("browser test: wrote {}", path.display());
}
