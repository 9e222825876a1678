//! A small static HTTP/1.1 server on 127.0.0.1 for the viewer: the page from the viewer folder,
//! the results folder under `/results/`, and `/results/index.json` listing it (made at each
//! request, so new files appear on reload). GET and HEAD only; every response closes its connection.
//! Paths outside either folder get 403.
//!
//! It assumes nothing of its clients (a browser on a shared machine, or a page elsewhere reaching it
//! through DNS rebinding): a request line is at most 8 KiB and the headers 32 KiB in all (431 past
//! that), a client that stops sending is dropped after the read timeout, a fixed pool of worker
//! threads serves the connections (when all are busy and the queue is full, a 503 at once: no
//! thread per connection, nothing to run out of), and a `Host` other than the address it serves is
//! refused (421). A hand-written server rather than an async crate: the page needs nine routes of
//! static files, and these limits are a few lines each.
use super::listing::{index_json, resolve_inside, Resolved};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// The longest request line read.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The most header bytes read, all lines together.
pub const MAX_HEADERS: usize = 32 * 1024;

/// The content type of a file by its extension (browsers refuse to stream-compile wasm without
/// `application/wasm`, and refuse module scripts without a JavaScript type).
pub fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "parquet" => "application/vnd.apache.parquet",
        "svg" => "image/svg+xml",
        "md" | "txt" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        _ => "application/octet-stream",
    }
}

pub struct Site {
    pub viewer: PathBuf,
    pub results: PathBuf,
}

/// How the server treats its clients.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A client that sends nothing for this long is dropped.
    pub read_timeout: Duration,
    /// Connections served at once (the worker threads).
    pub workers: usize,
    /// Accepted connections waiting for a worker; past this, 503.
    pub queue: usize,
    /// `Host` values accepted (the address served, under the names a browser uses for it).
    pub hosts: Vec<String>,
}

impl Limits {
    pub fn for_port(port: u16) -> Limits {
        Limits {
            read_timeout: Duration::from_secs(10),
            workers: 8,
            queue: 64,
            hosts: vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")],
        }
    }
}

/// What one request path gets: (status, content type, body).
pub fn respond(site: &Site, path: &str) -> (u16, &'static str, Vec<u8>) {
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let (root, rel) = if path == "/results/index.json" {
        return (200, "application/json", index_json(&site.results).into_bytes());
    } else if let Some(rel) = path.strip_prefix("/results/") {
        (&site.results, rel)
    } else if path == "/" {
        (&site.viewer, "index.html")
    } else {
        (&site.viewer, path.trim_start_matches('/'))
    };
    let text = "text/plain; charset=utf-8";
    match resolve_inside(root, rel) {
        Resolved::File(file) => match std::fs::read(&file) {
            Ok(body) => (200, mime(&file), body),
            Err(e) => (500, text, format!("reading {rel}: {e}\n").into_bytes()),
        },
        Resolved::Missing => (404, text, format!("not found: {path}\n").into_bytes()),
        Resolved::Outside => (403, text, b"refused: outside the folder this server serves\n".to_vec()),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// A request's method, target and `Host`, or the status that refuses it.
struct Request {
    method: String,
    target: String,
    host: Option<String>,
}

/// One line of at most `limit` bytes (without its CRLF); None past the limit. Reads at most `limit`
/// bytes and so never holds more.
fn read_line_capped(reader: &mut impl BufRead, limit: usize) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    reader.take(limit as u64 + 1).read_until(b'\n', &mut buf)?;
    if !buf.ends_with(b"\n") {
        return Ok(if buf.len() > limit { None } else { Some(String::from_utf8_lossy(&buf).into_owned()) });
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

fn read_request(reader: &mut impl BufRead) -> std::io::Result<Result<Request, u16>> {
    let Some(line) = read_line_capped(reader, MAX_REQUEST_LINE)? else { return Ok(Err(431)) };
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let (mut host, mut total) = (None, 0);
    loop {
        let Some(h) = read_line_capped(reader, MAX_HEADERS - total)? else { return Ok(Err(431)) };
        total += h.len() + 2;
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.trim().eq_ignore_ascii_case("host") {
                host = Some(value.trim().to_string());
            }
        }
    }
    Ok(Ok(Request { method, target, host }))
}

fn write_response(out: &mut TcpStream, status: u16, ctype: &str, body: &[u8], head_only: bool) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    )?;
    if !head_only {
        out.write_all(body)?;
    }
    out.flush()
}

fn handle(site: &Site, limits: &Limits, stream: TcpStream) -> Result<()> {
    stream.set_read_timeout(Some(limits.read_timeout))?;
    stream.set_write_timeout(Some(limits.read_timeout))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let text = "text/plain; charset=utf-8";
    let mut out = stream;
    let req = match read_request(&mut reader) {
        Ok(r) => r,
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Err(408),
        Err(e) => return Err(e.into()),
    };
    let (status, ctype, body, head_only) = match req {
        Err(408) => (408, text, b"request not received in time\n".to_vec(), false),
        Err(status) => (status, text, b"request line or headers too large\n".to_vec(), false),
        Ok(r) if !r.host.as_ref().is_some_and(|h| limits.hosts.iter().any(|a| a.eq_ignore_ascii_case(h))) => {
            (421, text, format!("refused: this server answers only to {}\n", limits.hosts.join(" or ")).into_bytes(), false)
        }
        Ok(r) => match r.method.as_str() {
            "GET" | "HEAD" if r.target.starts_with('/') => {
                let (s, c, b) = respond(site, &r.target);
                (s, c, b, r.method == "HEAD")
            }
            "GET" | "HEAD" => (400, text, b"bad request\n".to_vec(), false),
            _ => (405, text, b"only GET and HEAD\n".to_vec(), false),
        },
    };
    write_response(&mut out, status, ctype, &body, head_only)?;
    if status == 431 {
        linger(&mut out, &mut reader);
    }
    Ok(())
}

/// After answering a request that was not read to its end: stop sending, then read and drop what the
/// client still sends (at most 16 MiB, at most 2 s) before closing. Closing with unread input makes
/// the kernel reset the connection, and a reset can destroy the answer before the client reads it.
fn linger(out: &mut TcpStream, reader: &mut impl Read) {
    let _ = out.shutdown(std::net::Shutdown::Write);
    let _ = out.set_read_timeout(Some(Duration::from_millis(200)));
    let start = std::time::Instant::now();
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0;
    while total < 16 << 20 && start.elapsed() < Duration::from_secs(2) {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

/// Bind 127.0.0.1:`port` (0 = any free port) and return the listener with its URL.
pub fn bind(port: u16) -> Result<(TcpListener, String)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    let url = format!("http://127.0.0.1:{}/", listener.local_addr()?.port());
    Ok((listener, url))
}

/// Serve until the process is stopped, with the default limits for the listener's port.
pub fn serve(listener: TcpListener, site: Site) -> Result<()> {
    let port = listener.local_addr()?.port();
    serve_with(listener, site, Limits::for_port(port))
}

/// Serve with the given limits: `limits.workers` threads started once take accepted connections
/// from a queue of `limits.queue`; a connection that finds the queue full gets a 503 from the
/// accepting thread.
pub fn serve_with(listener: TcpListener, site: Site, limits: Limits) -> Result<()> {
    let site = Arc::new(site);
    let limits = Arc::new(limits);
    let (tx, rx) = mpsc::sync_channel::<TcpStream>(limits.queue);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..limits.workers.max(1) {
        let (site, limits, rx) = (Arc::clone(&site), Arc::clone(&limits), Arc::clone(&rx));
        std::thread::Builder::new()
            .name(format!("viewer-{i}"))
            .spawn(move || loop {
                let next = rx.lock().map(|r| r.recv());
                match next {
                    Ok(Ok(stream)) => {
                        let _ = handle(&site, &limits, stream);
                    }
                    _ => return,
                }
            })
            .context("starting the viewer's worker threads")?;
    }
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            // Out of descriptors, most likely: let the workers close some before accepting again.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        if let Err(mpsc::TrySendError::Full(mut busy)) = tx.try_send(stream) {
            let _ = busy.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = write_response(&mut busy, 503, "text/plain; charset=utf-8", b"busy: too many connections\n", false);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_types_and_refusals() {
        let tmp = tempfile::tempdir().unwrap();
        let viewer = tmp.path().join("www");
        let results = tmp.path().join("results");
        std::fs::create_dir_all(viewer.join("pkg")).unwrap();
        std::fs::create_dir_all(&results).unwrap();
        std::fs::write(viewer.join("index.html"), "<html>").unwrap();
        std::fs::write(viewer.join("pkg/sqlora_viewer_bg.wasm"), b"\0asm").unwrap();
        std::fs::write(results.join("runs.parquet"), b"PAR1").unwrap();
        let site = Site { viewer, results };
        assert_eq!(respond(&site, "/"), (200, "text/html; charset=utf-8", b"<html>".to_vec()));
        assert_eq!(respond(&site, "/pkg/sqlora_viewer_bg.wasm").1, "application/wasm");
        assert_eq!(respond(&site, "/results/runs.parquet").2, b"PAR1");
        let (status, ctype, body) = respond(&site, "/results/index.json?t=1");
        assert_eq!((status, ctype, String::from_utf8(body).unwrap()), (200, "application/json", r#"{"files":["runs.parquet"]}"#.into()));
        assert_eq!(respond(&site, "/results/../www/index.html").0, 403);
        assert_eq!(respond(&site, "/results/%2e%2e/www/index.html").0, 403);
        assert_eq!(respond(&site, "/../results/runs.parquet").0, 403);
        assert_eq!(respond(&site, "/nothing.js").0, 404);
    }
}
