//! The image-classification data readers (`capim::data`): IDX (plain and
//! gzipped), Fashion-MNIST directories and CIFAR-10 batches read back
//! exactly; every defect refused as `Error::Invalid` naming the file and
//! field; random and truncated files never panic.

use capim::Error;
use capim::data::fashion_mnist::{self, Split};
use capim::data::{cifar, idx};
use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

fn images_idx(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, 3];
    for d in [n, rows, cols] {
        b.extend(d.to_be_bytes());
    }
    b.extend(pixels);
    b
}

fn labels_idx(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, 1];
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend(labels);
    b
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn pixels(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 37 % 256) as u8).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A CIFAR-10 batch of records with these labels; pixel bytes depend on
/// `seed` and the record.
fn cifar_batch(labels: &[u8], seed: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        b.push(l);
        b.extend((0..cifar::IMAGE_BYTES).map(|j| ((seed * 131 + i * 17 + j) % 251) as u8));
    }
    b
}

/// `r` is `Error::Invalid` for `path` and `field`, exit code 2, and its
/// message names both; returns the message.
#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(r: capim::Result<T>, path: &Path, field: &str) -> String {
    let e = r.expect_err("expected an error");
    let msg = e.to_string();
    match &e {
        Error::Invalid { file, field: f, .. } => {
            assert_eq!(file, &path.display().to_string(), "{msg}");
            assert_eq!(f, field, "{msg}");
        }
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
    assert_eq!(e.exit_code(), 2);
    let path_text = path.display().to_string();
    assert!(
        msg.contains(&path_text) && msg.contains(&format!("`{field}`")),
        "{msg}"
    );
    msg
}

#[test]
fn idx_plain_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let px = pixels(3 * 2 * 4);
    let images = write(dir.path(), "images", &images_idx(3, 2, 4, &px));
    let labels = write(dir.path(), "labels", &labels_idx(&[7, 0, 255]));
    assert_eq!(idx::read_images(&images).unwrap(), (3, 2, 4, px));
    assert_eq!(idx::read_labels(&labels).unwrap(), vec![7, 0, 255]);
}

#[test]
fn idx_gzip_round_trip_detected_by_magic_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let px = pixels(5 * 3 * 3);
    // Gzipped content without `.gz`, plain content with it.
    let images = write(dir.path(), "images.bin", &gzip(&images_idx(5, 3, 3, &px)));
    let labels = write(dir.path(), "labels.gz", &labels_idx(&[1, 2, 3, 4, 5]));
    let labels_gz = write(dir.path(), "labels.idx", &gzip(&labels_idx(&[9; 5])));
    assert_eq!(idx::read_images(&images).unwrap(), (5, 3, 3, px));
    assert_eq!(idx::read_labels(&labels).unwrap(), vec![1, 2, 3, 4, 5]);
    assert_eq!(idx::read_labels(&labels_gz).unwrap(), vec![9; 5]);
}

#[test]
fn fashion_mnist_loads_plain_and_gzipped_splits() {
    let dir = tempfile::tempdir().unwrap();
    let (train_px, test_px) = (pixels(4 * 28 * 28), pixels(2 * 28 * 28));
    let d = dir.path();
    let train_images = gzip(&images_idx(4, 28, 28, &train_px));
    write(d, "train-images-idx3-ubyte.gz", &train_images);
    write(
        d,
        "train-labels-idx1-ubyte.gz",
        &gzip(&labels_idx(&[0, 9, 3, 3])),
    );
    write(
        d,
        "t10k-images-idx3-ubyte",
        &images_idx(2, 28, 28, &test_px),
    );
    write(d, "t10k-labels-idx1-ubyte", &labels_idx(&[5, 1]));
    let train = fashion_mnist::load(d, Split::Train).unwrap();
    assert_eq!(
        (
            train.n,
            train.channels,
            train.height,
            train.width,
            train.classes
        ),
        (4, 1, 28, 28, 10)
    );
    assert_eq!((train.images, train.labels), (train_px, vec![0, 9, 3, 3]));
    let test = fashion_mnist::load(d, Split::Test).unwrap();
    assert_eq!(test.n, 2);
    assert_eq!(test.image(1), &test_px[784..]);
    assert_eq!(test.labels, vec![5, 1]);

    // A missing file is named, with how to install the data.
    let empty = tempfile::tempdir().unwrap();
    let e = fashion_mnist::load(empty.path(), Split::Test).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Io { .. }), "{msg}");
    assert!(
        msg.contains("t10k-images-idx3-ubyte") && msg.contains("make data"),
        "{msg}"
    );
}

#[test]
fn cifar_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "data_batch_1.bin", &cifar_batch(&[3, 0], 1));
    let b = write(dir.path(), "data_batch_2.bin", &cifar_batch(&[9, 1, 4], 2));
    let d = cifar::read_batches(&[a, b]).unwrap();
    assert_eq!(
        (d.n, d.channels, d.height, d.width, d.classes),
        (5, 3, 32, 32, 10)
    );
    assert_eq!(d.labels, vec![3, 0, 9, 1, 4]);
    let second = cifar_batch(&[9, 1, 4], 2);
    assert_eq!(
        d.image(3),
        &second[cifar::RECORD_BYTES + 1..2 * cifar::RECORD_BYTES]
    );
    let first = cifar_batch(&[3, 0], 1);
    assert_eq!(d.image(0), &first[1..cifar::RECORD_BYTES]);
    assert_eq!(d.images.len(), 5 * 3072);
}

#[test]
fn defect_wrong_magic() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = images_idx(1, 2, 2, &[0; 4]);
    b[1] = 0x12;
    let p = write(dir.path(), "images", &b);
    let msg = assert_invalid(idx::read_images(&p), &p, "magic");
    assert!(
        msg.contains("0x00120803") && msg.contains("0x00000803"),
        "{msg}"
    );
    // A text file.
    let p = write(dir.path(), "text", b"hello, world\n");
    assert_invalid(idx::read_labels(&p), &p, "magic");
}

#[test]
fn defect_wrong_type_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = images_idx(1, 2, 2, &[0; 16]);
    b[2] = 0x0d;
    let p = write(dir.path(), "float-images", &b);
    let msg = assert_invalid(idx::read_images(&p), &p, "magic type byte");
    assert!(
        msg.contains("0x0d (32-bit float)") && msg.contains("0x08"),
        "{msg}"
    );
}

#[test]
fn defect_wrong_dimension_count() {
    let dir = tempfile::tempdir().unwrap();
    let labels = write(dir.path(), "labels", &labels_idx(&[1, 2]));
    let msg = assert_invalid(idx::read_images(&labels), &labels, "magic dimension count");
    assert!(
        msg.contains("= 1 in magic 0x00000801") && msg.contains("expected 3"),
        "{msg}"
    );
    let images = write(dir.path(), "images", &images_idx(1, 1, 1, &[0]));
    assert_invalid(idx::read_labels(&images), &images, "magic dimension count");
}

#[test]
fn defect_zero_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "rows0", &images_idx(4, 0, 28, &[]));
    assert_invalid(idx::read_images(&p), &p, "dimension 1");
    let p = write(dir.path(), "n0", &images_idx(0, 28, 28, &[]));
    assert_invalid(idx::read_images(&p), &p, "dimension 0");
    let p = write(dir.path(), "labels0", &labels_idx(&[]));
    assert_invalid(idx::read_labels(&p), &p, "dimension 0");
}

#[test]
fn defect_oversized_dimensions_refused_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    // 2^32-1 cubed would overflow u64; 2^16 x 2^16 x 2 is 8 GiB.
    let p = write(
        dir.path(),
        "huge",
        &images_idx(u32::MAX, u32::MAX, u32::MAX, &[]),
    );
    let msg = assert_invalid(idx::read_images(&p), &p, "dimensions");
    assert!(msg.contains("at most 2147483648 bytes"), "{msg}");
    let p = write(
        dir.path(),
        "big",
        &gzip(&images_idx(2, 1 << 16, 1 << 16, &[])),
    );
    assert_invalid(idx::read_images(&p), &p, "dimensions");
    // Just within the cap: refused by its length, without reading 2 GiB.
    let p = write(
        dir.path(),
        "cap",
        &images_idx(2, 1 << 15, 1 << 15, &[1; 100]),
    );
    let msg = assert_invalid(idx::read_images(&p), &p, "length");
    assert!(msg.contains("116 bytes (truncated)"), "{msg}");
}

#[test]
fn defect_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let full = images_idx(2, 3, 3, &pixels(18));
    let p = write(dir.path(), "images", &full[..full.len() - 1]);
    let msg = assert_invalid(idx::read_images(&p), &p, "length");
    assert!(
        msg.contains("33 bytes (truncated)") && msg.contains("exactly 34 bytes"),
        "{msg}"
    );
    // Cut in the header.
    let p = write(dir.path(), "header", &full[..10]);
    let msg = assert_invalid(idx::read_images(&p), &p, "length");
    assert!(msg.contains("10 bytes (truncated header)"), "{msg}");
    let p = write(dir.path(), "magic", &full[..3]);
    assert_invalid(idx::read_images(&p), &p, "length");
    // A complete gzip stream of a truncated file.
    let p = write(dir.path(), "images.gz", &gzip(&full[..30]));
    let msg = assert_invalid(idx::read_images(&p), &p, "length");
    assert!(msg.contains("30 bytes decompressed (truncated)"), "{msg}");
    // A gzip stream cut short, or corrupted.
    let gz = gzip(&full);
    let p = write(dir.path(), "cut.gz", &gz[..gz.len() / 2]);
    assert_invalid(idx::read_images(&p), &p, "gzip stream");
    let mut bad = gz.clone();
    let crc = bad.len() - 8;
    bad[crc] ^= 0xff;
    let p = write(dir.path(), "crc.gz", &bad);
    assert_invalid(idx::read_images(&p), &p, "gzip stream");
}

#[test]
fn defect_trailing_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = labels_idx(&[1, 2, 3]);
    b.extend([0, 0]);
    let p = write(dir.path(), "labels", &b);
    let msg = assert_invalid(idx::read_labels(&p), &p, "length");
    assert!(
        msg.contains("13 bytes (2 trailing bytes)") && msg.contains("exactly 11 bytes"),
        "{msg}"
    );
    let p = write(dir.path(), "labels.gz", &gzip(&b));
    let msg = assert_invalid(idx::read_labels(&p), &p, "length");
    assert!(msg.contains("more than 11 bytes decompressed"), "{msg}");
    // Junk after the gzip stream.
    let mut gz = gzip(&labels_idx(&[1, 2, 3]));
    gz.extend(b"junk");
    let p = write(dir.path(), "junk.gz", &gz);
    assert_invalid(idx::read_labels(&p), &p, "gzip stream");
}

#[test]
fn defect_gzip_bomb_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // Announces 8 bytes, inflates to 256 MiB (about 250 KB compressed).
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(&images_idx(2, 2, 2, &[])).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        e.write_all(&zeros).unwrap();
    }
    let p = write(dir.path(), "bomb.gz", &e.finish().unwrap());
    let start = std::time::Instant::now();
    let msg = assert_invalid(idx::read_images(&p), &p, "length");
    assert!(msg.contains("more than 24 bytes decompressed"), "{msg}");
    // Stopped after 9 payload bytes, not after inflating 256 MiB.
    assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
}

#[test]
fn defect_label_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "t10k-images-idx3-ubyte", &images_idx(3, 2, 2, &[0; 12]));
    let labels = write(
        d,
        "t10k-labels-idx1-ubyte.gz",
        &gzip(&labels_idx(&[0, 9, 10])),
    );
    let msg = assert_invalid(fashion_mnist::load(d, Split::Test), &labels, "label[2]");
    assert!(msg.contains("= 10: expected a class below 10"), "{msg}");
}

#[test]
fn defect_image_label_count_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "train-images-idx3-ubyte", &images_idx(3, 2, 2, &[0; 12]));
    let labels = write(d, "train-labels-idx1-ubyte", &labels_idx(&[0, 1]));
    let msg = assert_invalid(fashion_mnist::load(d, Split::Train), &labels, "dimension 0");
    assert!(
        msg.contains("2 labels") && msg.contains("3 labels"),
        "{msg}"
    );
}

#[test]
fn defect_cifar_length_not_a_multiple() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.bin", &cifar_batch(&[1], 0));
    let mut b = cifar_batch(&[1, 2], 0);
    b.extend([0; 5]);
    let bad = write(dir.path(), "bad.bin", &b);
    let msg = assert_invalid(cifar::read_batches(&[good, bad.clone()]), &bad, "length");
    assert!(msg.contains("6151 bytes") && msg.contains("3073"), "{msg}");
    let empty = write(dir.path(), "empty.bin", &[]);
    assert_invalid(
        cifar::read_batches(std::slice::from_ref(&empty)),
        &empty,
        "length",
    );
    let e = cifar::read_batches(&[]).unwrap_err();
    assert!(matches!(e, Error::Invalid { .. }), "{e}");
    assert_invalid(
        cifar::read_batches(&[dir.path().to_path_buf()]),
        dir.path(),
        "file",
    );
}

#[test]
fn defect_cifar_label_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.bin", &cifar_batch(&[1, 2], 0));
    let b = write(dir.path(), "b.bin", &cifar_batch(&[3, 200, 4], 0));
    let msg = assert_invalid(cifar::read_batches(&[a, b.clone()]), &b, "label[1]");
    assert!(msg.contains("= 200"), "{msg}");
}

#[test]
fn defect_not_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    assert_invalid(idx::read_images(dir.path()), dir.path(), "file");
    let e = idx::read_labels(&dir.path().join("absent")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && e.exit_code() == 2, "{e}");
}

/// The real Fashion-MNIST test split, where `make data` installed it (or
/// `$CAPIM_FASHION_MNIST` points to it); skipped with a note elsewhere.
#[test]
fn fashion_mnist_real_test_split() {
    let Some(dir) = fashion_mnist::default_dir() else {
        println!(
            "skipped: Fashion-MNIST not installed in {} (make data)",
            fashion_mnist::DEBIAN_DIR
        );
        return;
    };
    let d = fashion_mnist::load(&dir, Split::Test).unwrap();
    assert_eq!((d.n, d.channels, d.height, d.width), (10_000, 1, 28, 28));
    assert_eq!(d.images.len(), 10_000 * 784);
    assert!(d.labels.iter().all(|&l| l < 10));
    // Balanced: 1000 of each class.
    for c in 0..10 {
        assert_eq!(d.labels.iter().filter(|&&l| l == c).count(), 1000);
    }
    let train = fashion_mnist::load(&dir, Split::Train).unwrap();
    assert_eq!((train.n, train.height, train.width), (60_000, 28, 28));
    assert!(train.labels.iter().all(|&l| l < 10));
}

/// Bytes that look like an IDX header often enough to reach the deeper
/// checks: `00 00 TT DD`, small dimensions, a random payload.
fn idx_like() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(0x08u8), any::<u8>()],
        0u8..5,
        prop::collection::vec(0u32..6, 0..5),
        prop::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(|(t, nd, dims, payload)| {
            let mut b = vec![0, 0, t, nd];
            for d in dims {
                b.extend(d.to_be_bytes());
            }
            b.extend(payload);
            b
        })
}

proptest! {
    #[test]
    fn random_files_never_panic(
        bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..120), idx_like()],
        gz in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let content = if gz { gzip(&bytes) } else { bytes };
        let p = write(dir.path(), "f", &content);
        let _ = idx::read_images(&p);
        let _ = idx::read_labels(&p);
        let _ = cifar::read_batches(&[p]);
    }

    #[test]
    fn truncations_never_panic(cut in 0usize..1000, gz in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let full = images_idx(2, 5, 7, &pixels(70));
        let content = if gz { gzip(&full) } else { full.clone() };
        let cut = cut % (content.len() + 1);
        let p = write(dir.path(), "f", &content[..cut]);
        let r = idx::read_images(&p);
        if cut == content.len() {
            prop_assert_eq!(r.unwrap(), (2, 5, 7, pixels(70)));
        } else {
            let e = r.unwrap_err();
            prop_assert!(matches!(e, Error::Invalid { .. }), "{}", e);
        }
        let batch = cifar_batch(&[1, 2], 3);
        let p = write(dir.path(), "b", &batch[..cut.min(batch.len())]);
        prop_assert!(cifar::read_batches(&[p]).is_err());
    }
}
