//! A small static HTTP/1.1 server on 127.0.0.1 for the viewer: the page from the viewer folder,
//! the results folder under `/results/`, and `/results/index.json` listing it (made at each
//! request, so new files appear on reload). GET and HEAD only; one thread per connection; every
//! response closes its connection. Paths outside either folder get 403.
use super::listing::{index_json, resolve_inside, Resolved};
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        _ => "Internal Server Error",
    }
}

fn handle(site: &Site, stream: TcpStream) -> Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // Headers are read and dropped (the server needs none of them); cap their size.
    let mut header = String::new();
    let mut total = 0;
    while reader.read_line(&mut header)? > 2 && total < 64 * 1024 {
        total += header.len();
        header.clear();
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = match method {
        "GET" | "HEAD" if target.starts_with('/') => respond(site, target),
        "GET" | "HEAD" => (400, "text/plain; charset=utf-8", b"bad request\n".to_vec()),
        _ => (405, "text/plain; charset=utf-8", b"only GET and HEAD\n".to_vec()),
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(&body)?;
    }
    out.flush()?;
    Ok(())
}

/// Bind 127.0.0.1:`port` (0 = any free port) and return the listener with its URL.
pub fn bind(port: u16) -> Result<(TcpListener, String)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    let url = format!("http://127.0.0.1:{}/", listener.local_addr()?.port());
    Ok((listener, url))
}

/// Serve until the process is stopped.
pub fn serve(listener: TcpListener, site: Site) -> Result<()> {
    let site = Arc::new(site);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let site = Arc::clone(&site);
        std::thread::spawn(move || {
            let _ = handle(&site, stream);
        });
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
