//! The IDX format of MNIST and Fashion-MNIST: a big-endian magic number
//! `00 00 TT DD` (type `TT`, `DD` dimensions), `DD` big-endian `u32`
//! dimension sizes, then the payload, row-major. capim reads unsigned-byte
//! files only: 3-D images (magic `0x00000803`) and 1-D labels
//! (`0x00000801`).
//!
//! A file may be gzip-compressed; that is told by its first two bytes
//! (`1f 8b`), not by its name. Checks, all before the payload is read:
//! a regular file; the magic (its two zero bytes, the type byte, the
//! dimension count); every dimension positive and their product at most
//! [`MAX_PAYLOAD_BYTES`]; the length exactly header + payload, so a
//! truncated file or trailing bytes are refused. A plain file's length is
//! taken from the file system before anything is allocated; a gzip stream
//! is decompressed only up to the announced length plus one byte, so a
//! stream that inflates to more (a "gzip bomb") is refused after that many
//! bytes, and a corrupt or truncated stream is refused as bad content.

use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;

/// Magic number of an unsigned-byte 3-D IDX file (images, rows, columns).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an unsigned-byte 1-D IDX file (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Largest payload (product of the dimensions, in bytes) accepted: 2 GiB.
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 31;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UNSIGNED_BYTE: u8 = 0x08;
/// What decompressed data is buffered ahead of its arrival, at most.
const GZIP_INITIAL_CAPACITY: u64 = 1 << 24;

/// Reads a 3-D unsigned-byte IDX file: `(n, rows, cols, pixels)`, the
/// `n * rows * cols` pixels image-major, then row, then column.
pub fn read_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>)> {
    let (dims, data) = read_idx(path, IMAGES_MAGIC, "images, rows, columns")?;
    Ok((dims[0], dims[1], dims[2], data))
}

/// Reads a 1-D unsigned-byte IDX file: the labels.
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let (_, data) = read_idx(path, LABELS_MAGIC, "labels")?;
    Ok(data)
}

/// The name of an IDX type byte.
fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0b => "16-bit integer",
        0x0c => "32-bit integer",
        0x0d => "32-bit float",
        0x0e => "64-bit float",
        _ => "no IDX type",
    }
}

/// A reader that remembers whether the file under it failed, so that an
/// error out of the gzip decoder can be told apart: the file's (I/O) or
/// the stream's (bad content).
struct Tracked<R> {
    inner: R,
    failed: bool,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        if r.is_err() {
            self.failed = true;
        }
        r
    }
}

type Raw = io::Chain<Cursor<Vec<u8>>, File>;

enum Stream {
    Plain(Raw),
    Gzip(Box<MultiGzDecoder<Tracked<Raw>>>),
}

/// An open IDX file, plain or gzip.
struct Source<'a> {
    path: &'a Path,
    stream: Stream,
    /// The file's length on disk.
    file_len: u64,
}

impl<'a> Source<'a> {
    fn open(path: &'a Path) -> Result<Self> {
        let meta = crate::fsio::regular_file(path, "an IDX file")?;
        let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut head = Vec::with_capacity(2);
        (&mut f)
            .take(2)
            .read_to_end(&mut head)
            .map_err(|e| Error::io(path, e))?;
        let gzip = head == GZIP_MAGIC;
        let raw = Cursor::new(head).chain(f);
        let stream = if gzip {
            Stream::Gzip(Box::new(MultiGzDecoder::new(Tracked {
                inner: raw,
                failed: false,
            })))
        } else {
            Stream::Plain(raw)
        };
        Ok(Source {
            path,
            stream,
            file_len: meta.len(),
        })
    }

    fn gzip(&self) -> bool {
        matches!(self.stream, Stream::Gzip(_))
    }

    /// " decompressed" for a gzip file: how lengths are qualified.
    fn qualifier(&self) -> &'static str {
        if self.gzip() { " decompressed" } else { "" }
    }

    /// Appends at most `limit` bytes (fewer only at the end of the data).
    fn read_up_to(&mut self, limit: u64, buf: &mut Vec<u8>) -> Result<()> {
        let r = match &mut self.stream {
            Stream::Plain(r) => r.take(limit).read_to_end(buf),
            Stream::Gzip(r) => r.as_mut().take(limit).read_to_end(buf),
        };
        r.map(|_| ()).map_err(|e| match &self.stream {
            Stream::Gzip(d) if !d.get_ref().failed => {
                Error::invalid(self.path, "gzip stream", e, "a complete, valid gzip stream")
            }
            _ => Error::io(self.path, e),
        })
    }

    /// The error for a header cut short: `got` bytes where `want` were due.
    fn short_header(&self, got: usize, want: usize, what: &str) -> Error {
        Error::invalid(
            self.path,
            "length",
            format!("{got} bytes{} (truncated header)", self.qualifier()),
            format!("at least {want} bytes: {what}"),
        )
    }
}

/// Reads an IDX file whose magic must be `want` (unsigned bytes; `what`
/// names the dimensions): its dimension sizes and payload.
fn read_idx(path: &Path, want: u32, what: &str) -> Result<(Vec<usize>, Vec<u8>)> {
    let mut src = Source::open(path)?;
    let ndims = want.to_be_bytes()[3];
    let want_text = format!("{want:#010x} (IDX, unsigned bytes, {ndims}-D: {what})");

    let mut head = Vec::with_capacity(4 + 4 * ndims as usize);
    src.read_up_to(4, &mut head)?;
    if head.len() < 4 {
        return Err(src.short_header(head.len(), 4, "the IDX magic number"));
    }
    let magic = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if head[0] != 0 || head[1] != 0 {
        return Err(Error::invalid(
            path,
            "magic",
            format!("{magic:#010x} (its first two bytes are not zero: not an IDX file)"),
            want_text,
        ));
    }
    if head[2] != UNSIGNED_BYTE {
        return Err(Error::invalid(
            path,
            "magic type byte",
            format!(
                "{:#04x} ({}) in magic {magic:#010x}",
                head[2],
                type_name(head[2])
            ),
            format!("{UNSIGNED_BYTE:#04x} (unsigned byte): magic {want_text}"),
        ));
    }
    if head[3] != ndims {
        return Err(Error::invalid(
            path,
            "magic dimension count",
            format!("{} in magic {magic:#010x}", head[3]),
            format!("{ndims}: magic {want_text}"),
        ));
    }

    let header_len = 4 + 4 * ndims as usize;
    src.read_up_to(4 * ndims as u64, &mut head)?;
    if head.len() < header_len {
        return Err(src.short_header(
            head.len(),
            header_len,
            &format!("the IDX magic number and {ndims} dimension sizes"),
        ));
    }
    let mut dims = Vec::with_capacity(ndims as usize);
    for (i, b) in head[4..].chunks_exact(4).enumerate() {
        let d = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if d == 0 {
            return Err(Error::invalid(
                path,
                format!("dimension {i}"),
                0,
                format!("a positive size (dimensions: {what})"),
            ));
        }
        dims.push(d);
    }
    // At most three factors below 2^32: no overflow in u128.
    let payload: u128 = dims.iter().map(|&d| d as u128).product();
    let dims_text = dims
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" x ");
    if payload > MAX_PAYLOAD_BYTES as u128 {
        return Err(Error::invalid(
            path,
            "dimensions",
            format!("{dims_text} = {payload} bytes"),
            format!("at most {MAX_PAYLOAD_BYTES} bytes (2 GiB) of payload"),
        ));
    }
    let payload = payload as u64;
    let total = header_len as u64 + payload;
    let expected_len = |src: &Source| {
        format!(
            "exactly {total} bytes{}: {header_len}-byte header + {dims_text} = {payload} bytes",
            src.qualifier()
        )
    };
    let length_error = |src: &Source, got: u64| {
        let note = if got < total {
            "truncated".to_string()
        } else {
            format!("{} trailing bytes", got - total)
        };
        Error::invalid(
            path,
            "length",
            format!("{got} bytes{} ({note})", src.qualifier()),
            expected_len(src),
        )
    };

    let capacity = if src.gzip() {
        payload.min(GZIP_INITIAL_CAPACITY)
    } else {
        if src.file_len != total {
            return Err(length_error(&src, src.file_len));
        }
        payload
    };
    let mut data = Vec::with_capacity(capacity as usize);
    // One byte more than announced tells trailing bytes from none, and
    // bounds what a gzip stream may inflate to.
    src.read_up_to(payload + 1, &mut data)?;
    let got = data.len() as u64;
    if got != payload {
        if got > payload {
            return Err(Error::invalid(
                path,
                "length",
                format!(
                    "more than {total} bytes{} (trailing bytes)",
                    src.qualifier()
                ),
                expected_len(&src),
            ));
        }
        return Err(length_error(&src, header_len as u64 + got));
    }
    Ok((dims.iter().map(|&d| d as usize).collect(), data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names() {
        assert_eq!(type_name(0x08), "unsigned byte");
        assert_eq!(type_name(0x0d), "32-bit float");
        assert_eq!(type_name(0x42), "no IDX type");
    }

    #[test]
    fn magic_constants() {
        assert_eq!(IMAGES_MAGIC.to_be_bytes(), [0, 0, UNSIGNED_BYTE, 3]);
        assert_eq!(LABELS_MAGIC.to_be_bytes(), [0, 0, UNSIGNED_BYTE, 1]);
    }
}
