//! capim command-line entry point: parse, run, map errors to exit codes
//! (0 ok, 1 verification failed, 2 bad input or missing tool).

use clap::Parser;

/// mimalloc instead of the system allocator, and it keeps the memory it
/// frees (`purge_delay = -1`): training allocates and frees
/// activation-sized buffers at every step, and glibc's malloc handed the
/// large ones back to the kernel each time, so a third of a training run's
/// time was page faults (`perf`; the README's training section has the
/// figures). capim's processes are short-lived: keeping their peak is fine.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (the Rust binding
/// names no constant for it); its default is 1000 (ms), which a test checks.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // SAFETY: sets one of mimalloc's options (no preconditions); no other
    // thread exists yet.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let cli = capim::cli::Cli::parse();
    match capim::cmd::run(cli) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}

#[cfg(test)]
mod tests {
    /// The option number is mimalloc's purge delay: it has that option's
    /// default (unless the environment sets it).
    #[test]
    fn purge_delay_option_number() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads an option.
        let v = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(v, 1000);
    }
}
