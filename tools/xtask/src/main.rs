//! `cargo run -p xtask -- check-layers`: checks the dependency edges between workspace
//! crates against the rules in ARCHITECTURE.md.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod layers;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("check-layers") => {
            let root = layers::workspace_root();
            match layers::check(&root) {
                Ok(()) => {
                    println!("crate layering: ok");
                    ExitCode::SUCCESS
                }
                Err(problems) => {
                    for p in problems {
                        eprintln!("error: {p}");
                    }
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: cargo run -p xtask -- check-layers");
            ExitCode::from(2)
        }
    }
}
