//! CIFAR-10 (Krizhevsky, 2009) in its binary distribution: batch files
//! (`data_batch_1.bin` .. `data_batch_5.bin`, `test_batch.bin`) of records
//! of one label byte (0..=9) and 3072 pixel bytes, the red, green and blue
//! 32x32 planes in turn, row-major: the channel-major order of
//! [`Dataset::images`], so records are copied as they are.

use super::Dataset;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Classes (airplane, automobile, bird, cat, deer, dog, frog, horse, ship,
/// truck).
pub const CLASSES: usize = 10;
pub const CHANNELS: usize = 3;
pub const SIDE: usize = 32;
/// Pixel bytes of one image.
pub const IMAGE_BYTES: usize = CHANNELS * SIDE * SIDE;
/// Bytes of one record: the label and the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Largest total of the files read together: 2 GiB (a batch is 30 MB).
pub const MAX_TOTAL_BYTES: u64 = 1 << 31;

/// Reads batch files, in the order given, into one data set. Each must be
/// a regular file whose length is a positive multiple of [`RECORD_BYTES`]
/// (checked before it is read; the files together at most
/// [`MAX_TOTAL_BYTES`]); every label must be below [`CLASSES`].
pub fn read_batches(paths: &[PathBuf]) -> Result<Dataset> {
    if paths.is_empty() {
        return Err(Error::invalid(
            "(CIFAR-10 batch files)",
            "files",
            "none",
            "at least one batch file",
        ));
    }
    let mut lens = Vec::with_capacity(paths.len());
    let mut total = 0u64;
    for path in paths {
        let len = checked_len(path)?;
        total += len;
        if total > MAX_TOTAL_BYTES {
            return Err(Error::invalid(
                path,
                "length",
                format!("{len} bytes, {total} bytes with the files before it"),
                format!("at most {MAX_TOTAL_BYTES} bytes (2 GiB) of batch files in all"),
            ));
        }
        lens.push(len);
    }
    let n = (total / RECORD_BYTES as u64) as usize;
    let mut images = Vec::with_capacity(n * IMAGE_BYTES);
    let mut labels = Vec::with_capacity(n);
    for (path, &len) in paths.iter().zip(&lens) {
        let bytes = read_exact_len(path, len)?;
        for record in bytes.chunks_exact(RECORD_BYTES) {
            labels.push(record[0]);
            images.extend_from_slice(&record[1..]);
        }
        let first = labels.len() - bytes.len() / RECORD_BYTES;
        super::check_labels(path, &labels[first..], CLASSES)?;
    }
    Ok(Dataset {
        n,
        channels: CHANNELS,
        height: SIDE,
        width: SIDE,
        classes: CLASSES,
        images,
        labels,
    })
}

/// The length of `path`, a regular file whose length is a positive
/// multiple of [`RECORD_BYTES`].
fn checked_len(path: &Path) -> Result<u64> {
    let meta = crate::fsio::regular_file(path, "a CIFAR-10 batch")?;
    let len = meta.len();
    if len == 0 || !len.is_multiple_of(RECORD_BYTES as u64) {
        return Err(Error::invalid(
            path,
            "length",
            format!("{len} bytes"),
            format!(
                "a positive multiple of the record size {RECORD_BYTES} bytes \
                 (1 label byte + {IMAGE_BYTES} pixel bytes)"
            ),
        ));
    }
    Ok(len)
}

/// Reads `path`, which must still be `len` bytes long.
fn read_exact_len(path: &Path, len: u64) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(len + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 != len {
        return Err(Error::invalid(
            path,
            "length",
            format!("{} bytes while it was read", bytes.len()),
            format!("{len} bytes, as when it was opened (the file changed)"),
        ));
    }
    Ok(bytes)
}
