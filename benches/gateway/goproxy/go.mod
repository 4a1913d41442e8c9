module grt/benches/goproxy

go 1.19
