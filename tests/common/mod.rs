//! Helpers shared by the tests that drive the `capim` binary on generated RTL.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `capim` binary.
pub fn capim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_capim"))
        .args(args)
        .output()
        .expect("capim runs")
}

/// Everything the command printed.
pub fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Plants a fault: replaces the one occurrence of `from` in `dir/file`.
pub fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let s = std::fs::read_to_string(&p).unwrap();
    assert_eq!(
        s.matches(from).count(),
        1,
        "`{from}` must occur once in {file}"
    );
    std::fs::write(&p, s.replace(from, to)).unwrap();
}
