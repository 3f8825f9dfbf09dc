//! The memory allocator of every capim program: mimalloc, told to keep the
//! memory it frees.
//!
//! Training allocates and frees activation-sized buffers at every step.
//! glibc's malloc handed the large ones back to the kernel each time and
//! they were faulted in again: an all-widths epoch of 2,560 images spent
//! 11.6 s in the kernel (`perf`: page faults), 2.3 s with this. mimalloc with
//! `purge_delay = -1` keeps them. A process then holds its peak memory
//! until it ends; training reaches its peak in the first step and stays
//! near it anyway, and capim's other commands are short.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (the Rust binding
/// names no constant for it); its default is 1000 (ms), which a test checks.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory stays with the process (call it first thing in `main`).
pub fn keep_freed_memory() {
    // SAFETY: sets one of mimalloc's options; it has no preconditions and
    // mimalloc reads its options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
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
