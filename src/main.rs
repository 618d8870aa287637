//! The `productivist` command line.

mod cli;

use clap::Parser;

fn main() {
    // A panic is a bug, never an answer to input; still, a person sees one
    // line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("productivist: internal error: {info}");
    }));
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        // One line, whatever a library's message looks like.
        let line = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        eprintln!("productivist: {line}");
        std::process::exit(1);
    }
}
