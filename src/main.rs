//! The `sqlora` command line: a thin layer over the library (`sqlora::commands`).
use clap::Parser;
use sqlora::commands::{dispatch, Cli};

fn main() {
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli.command) {
        eprintln!("error: {e:#}");
        // A bad SQLORA_ISA is a usage error, as clap's are.
        let usage = sqlora_kernel::cpu::isa::from_env().is_err();
        std::process::exit(if usage { 2 } else { 1 });
    }
}
