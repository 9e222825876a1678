//! `sqlora view [--results DIR] [--port N]` and `sqlora view --export DIR`.
use super::assets::viewer_dir;
use super::{export, server};
use anyhow::{bail, Result};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ViewArgs {
    /// The results folder to show (runs.parquet and the files beside it, in subfolders too).
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Port on 127.0.0.1 (0 = any free port; the URL is printed).
    #[arg(long, default_value_t = 8700)]
    pub port: u16,
    /// Instead of serving, write the page and the results as a static folder here (for GitHub
    /// Pages or any static host).
    #[arg(long)]
    pub export: Option<PathBuf>,
}

pub fn run(a: ViewArgs) -> Result<()> {
    let viewer = viewer_dir()?;
    if !a.results.is_dir() {
        bail!("results folder {} does not exist (pass --results DIR)", a.results.display());
    }
    if let Some(out) = &a.export {
        let n = export::export(&viewer, &a.results, out)?;
        println!(
            "wrote {} with {n} results file(s); serve it with any static file server, e.g. `python3 -m http.server -d {}`",
            out.display(),
            out.display()
        );
        return Ok(());
    }
    let (listener, url) = server::bind(a.port)?;
    println!("sqlora viewer: {url} (results: {}); Ctrl-C stops it", a.results.display());
    std::io::stdout().flush()?;
    server::serve(listener, server::Site { viewer, results: a.results.clone() })
}
