//! Files in and out, the same way for every command.
//!
//! **Inputs** are read with [`read_bounded`]: regular files only (a FIFO,
//! a device or a directory is refused without being opened for reading),
//! checked against a size limit before a byte is read:
//!
//! | input | limit |
//! |---|---|
//! | array configuration (TOML) | [`MAX_CONFIG_BYTES`] = 1 MiB |
//! | model description (JSON) | [`MAX_MODEL_JSON_BYTES`] = 16 MiB |
//! | model weights (safetensors) | [`MAX_WEIGHTS_BYTES`] = 1 GiB |
//! | tensors (NPY) | [`MAX_NPY_BYTES`] = 1 GiB |
//!
//! **Outputs** are checked with [`check_target`] before anything is
//! computed or written: the path must end in a name (not `.` or `..`), must
//! not be a symbolic link (capim never follows or replaces one), must not
//! be a file where a directory goes or a directory where a file goes, and
//! its parent must be an existing directory. Files are then written to a
//! temporary sibling and renamed into place (see [`crate::emit::OutDir`]
//! for whole directories).

use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
pub const MAX_MODEL_JSON_BYTES: u64 = 16 << 20;
pub const MAX_WEIGHTS_BYTES: u64 = 1 << 30;
pub const MAX_NPY_BYTES: u64 = 1 << 30;

/// Human form of a byte count: `16 MiB`, `1 GiB`, `512 bytes`.
fn bytes_text(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n => format!("{n} bytes"),
    }
}

/// The metadata of `path`, which must be a regular file (not a directory,
/// FIFO, socket or device); `what` says what it should be in the message
/// (`"an IDX file"`).
pub fn regular_file(path: &Path, what: &str) -> Result<std::fs::Metadata> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        let kind = if meta.is_dir() {
            "a directory"
        } else {
            "a special file (FIFO, socket or device)"
        };
        return Err(Error::invalid(
            path,
            "file",
            kind,
            format!("a regular file: {what}"),
        ));
    }
    Ok(meta)
}

/// Reads `path`, a regular file of at most `limit` bytes; `what` says what
/// it is in the message (`"an array configuration"`).
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let meta = regular_file(path, what)?;
    if meta.len() > limit {
        return Err(Error::invalid(
            path,
            "size",
            format!("{} bytes", meta.len()),
            format!("at most {} for {what}", bytes_text(limit)),
        ));
    }
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take` also bounds a file that grows while it is read.
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(Error::invalid(
            path,
            "size",
            format!("more than {} bytes", limit),
            format!("at most {} for {what}", bytes_text(limit)),
        ));
    }
    Ok(bytes)
}

/// What an output path is to become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A directory (replaced as a whole when it is one capim wrote).
    Dir,
    /// A file (replaced when it exists as a file).
    File,
}

/// The directory `path` is created in: its parent, or `.`.
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks an output path named by option `field` before anything is
/// written (see the module documentation for the rules).
pub fn check_target(path: &Path, field: &str, target: Target) -> Result<()> {
    let refuse = |expected: String| Err(Error::invalid(path, field, path.display(), expected));
    let what = match target {
        Target::Dir => "an output directory",
        Target::File => "an output file",
    };
    // `Path` drops a trailing `.` component (`a/.` has the file name `a`),
    // so that case is found in the text.
    let text = path.to_string_lossy();
    if text.is_empty() || text == "." || text.ends_with("/.") || path.file_name().is_none() {
        return refuse(format!(
            "{what} path that ends in a name (not `.`, `..` or `/`)"
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return refuse(format!(
                "{what}, not a symbolic link (capim never follows or replaces a link: name its target)"
            ));
        }
        Ok(m) if target == Target::Dir && !m.is_dir() => {
            return refuse(format!(
                "{what}: this is an existing file, which capim does not replace with a directory"
            ));
        }
        Ok(m) if target == Target::File && m.is_dir() => {
            return refuse(format!(
                "{what}: this is an existing directory, which capim does not replace with a file"
            ));
        }
        Ok(m) if target == Target::File && !m.is_file() => {
            return refuse(format!("{what}: this is a special file (FIFO or device)"));
        }
        _ => {}
    }
    let parent = parent_dir(path);
    match std::fs::metadata(&parent) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => refuse(format!(
            "{what} inside a directory: `{}` is not a directory",
            parent.display()
        )),
        Err(_) => refuse(format!(
            "{what} inside an existing directory: `{}` does not exist (create it first)",
            parent.display()
        )),
    }
}

/// Refuses a path with white space (Verilator's generated makefiles cannot
/// build in one); `field` is the option it came from.
pub fn check_no_spaces(path: &Path, field: &str) -> Result<()> {
    let abs = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    if abs.to_string_lossy().chars().any(char::is_whitespace) {
        return Err(Error::invalid(
            path,
            field,
            format!("{:?}", abs.display().to_string()),
            "a path without spaces: Verilator's generated makefiles cannot build in one",
        ));
    }
    Ok(())
}

/// A JSON document as capim writes it: pretty, with a final newline.
pub fn json_bytes(v: &impl serde::Serialize) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("capim's JSON documents serialize");
    b.push(b'\n');
    b
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, renamed into place. `path` must have passed [`check_target`].
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    persist(temp_file(path, bytes)?, path)
}

/// A temporary file beside `target` holding `bytes` (mode 0644, synced),
/// to be [`persist`]ed; dropped, it is removed.
pub fn temp_file(target: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let dir = parent_dir(target);
    let mut tmp = tempfile::Builder::new()
        .prefix(".capim-tmp-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(target, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(target, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let perms = std::fs::Permissions::from_mode(0o644);
        tmp.as_file()
            .set_permissions(perms)
            .map_err(|e| Error::io(target, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(target, e))?;
    Ok(tmp)
}

/// Renames a [`temp_file`] onto `target`.
pub fn persist(tmp: tempfile::NamedTempFile, target: &Path) -> Result<()> {
    tmp.persist(target)
        .map(|_| ())
        .map_err(|e| Error::io(target, e.error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(bytes_text(1 << 20), "1 MiB");
        assert_eq!(bytes_text(16 << 20), "16 MiB");
        assert_eq!(bytes_text(1 << 30), "1 GiB");
        assert_eq!(bytes_text(1000), "1000 bytes");
    }

    #[test]
    fn nameless_targets_are_refused() {
        for p in [".", "..", "a/..", "a/.", "/", ""] {
            assert!(
                check_target(Path::new(p), "--out", Target::Dir).is_err(),
                "{p:?} accepted"
            );
        }
    }
}
