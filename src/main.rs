//! capim command-line entry point: parse, run, map errors to exit codes
//! (0 ok, 1 verification failed, 2 bad input or missing tool).

use clap::Parser;

fn main() {
    capim::alloc::keep_freed_memory();
    let cli = capim::cli::Cli::parse();
    match capim::cmd::run(cli) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
