//! The viewer's server against careless and hostile clients, over real sockets: a request line or
//! headers past their caps get 431 without being read whole, a client that stops sending gets 408
//! after the read timeout, a flood of half-sent connections gets 503 past the worker pool and its
//! queue while the thread count stays fixed, any `Host` but the address served gets 421 (DNS
//! rebinding), and the server answers normally after each.
use sqlora::viewer::server::{bind, serve_with, Limits, Site};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The tests take turns: the flood test counts this process's threads.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

/// Starts a server on a free port with a short read timeout, 2 workers and a queue of 4.
fn start() -> (u16, tempfile::TempDir, std::sync::MutexGuard<'static, ()>) {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (viewer, results) = (dir.path().join("www"), dir.path().join("results"));
    std::fs::create_dir_all(&viewer).unwrap();
    std::fs::create_dir_all(&results).unwrap();
    std::fs::write(viewer.join("index.html"), "<html>viewer</html>").unwrap();
    let (listener, _) = bind(0).unwrap();
    let port = listener.local_addr().unwrap().port();
    let limits = Limits { read_timeout: Duration::from_millis(600), workers: 2, queue: 4, ..Limits::for_port(port) };
    std::thread::spawn(move || serve_with(listener, Site { viewer, results }, limits).unwrap());
    (port, dir, turn)
}

/// Sends `raw` and returns the status of the response (0 when the connection closed without one).
fn status_of(port: u16, raw: &[u8]) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(raw);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn get(port: u16, host: &str) -> u16 {
    status_of(port, format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
}

#[test]
fn host_must_name_the_address_served() {
    let (port, _dir, _turn) = start();
    assert_eq!(get(port, &format!("127.0.0.1:{port}")), 200);
    assert_eq!(get(port, &format!("localhost:{port}")), 200);
    assert_eq!(get(port, "evil.example"), 421, "a rebound name");
    assert_eq!(get(port, &format!("evil.example:{port}")), 421);
    assert_eq!(status_of(port, b"GET / HTTP/1.0\r\n\r\n"), 421, "no Host at all");
}

#[test]
fn oversized_request_lines_and_headers_get_431_and_the_server_goes_on() {
    let (port, _dir, _turn) = start();
    let host = format!("127.0.0.1:{port}");
    // 4 MB of request line: the server reads 8 KiB of it, answers and closes.
    let mut long = b"GET /".to_vec();
    long.extend(std::iter::repeat_n(b'a', 4 << 20));
    assert_eq!(status_of(port, &long), 431);
    let mut headers = format!("GET / HTTP/1.1\r\nHost: {host}\r\n");
    for i in 0..2000 {
        headers.push_str(&format!("X-Filler-{i}: {}\r\n", "b".repeat(40)));
    }
    headers.push_str("\r\n");
    assert_eq!(status_of(port, headers.as_bytes()), 431);
    assert_eq!(get(port, &host), 200);
}

#[test]
fn a_client_that_stops_sending_is_dropped_after_the_read_timeout() {
    let (port, _dir, _turn) = start();
    let t = Instant::now();
    assert_eq!(status_of(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1"), 408);
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(500) && waited < Duration::from_secs(4), "dropped after {waited:?}");
    assert_eq!(get(port, &format!("127.0.0.1:{port}")), 200);
}

#[test]
fn a_flood_of_half_sent_connections_gets_503_and_no_thread_per_connection() {
    let (port, _dir, _turn) = start();
    std::thread::sleep(Duration::from_millis(100));
    let before = threads();
    // 2 workers busy, 4 queued, the rest answered 503 at once.
    let mut held: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert!(threads() <= before + 1, "threads grew from {before} to {} with the connections", threads());
    let mut busy = 0;
    for s in held.iter_mut().skip(6) {
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        busy += String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 503") as usize;
    }
    assert!(busy >= 190, "only {busy} of 194 connections past the pool and queue got 503");
    drop(held);
    // The held ones time out; the server then serves as before.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(get(port, &format!("127.0.0.1:{port}")), 200);
}

/// `sqlora view` from the built binary, started in another folder with no `SQLORA_VIEWER_DIR`: it
/// finds the page of the checkout it was built in at run time and serves the page and the wasm.
#[test]
fn sqlora_view_finds_the_built_page_from_anywhere() {
    let page = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("wasm/www/pkg/sqlora_viewer_bg.wasm");
    if !page.is_file() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and the viewer is not built: run bash wasm/build.sh first");
        }
        eprintln!("SKIPPED: the viewer is not built (bash wasm/build.sh)");
        return;
    }
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(elsewhere.path().join("results")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sqlora"))
        .args(["view", "--results", "results", "--port", "0"])
        .current_dir(elsewhere.path())
        .env_remove("SQLORA_VIEWER_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let Some(port) = line.split("127.0.0.1:").nth(1).and_then(|r| r.split('/').next()).and_then(|p| p.parse::<u16>().ok()) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no URL in {line:?}");
    };
    let host = format!("127.0.0.1:{port}");
    let get = |path: &str| status_of(port, format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
    let (index, wasm) = (get("/"), get("/pkg/sqlora_viewer_bg.wasm"));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!((index, wasm), (200, 200), "{line}");
}
