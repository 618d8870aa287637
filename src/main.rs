//! The `productivist` command line.

mod cli;

use clap::Parser;

/// mimalloc rather than glibc's malloc: validation and the node shell free
/// many small buffers on other threads than the ones that allocated them,
/// where glibc's malloc spent 7% of validation's time (see
/// docs/DECISIONS.md, "The allocator", and `productivist::memory`).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    productivist::memory::apply_page_policy();
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
