//! Image-classification data sets read from their distribution files:
//! Fashion-MNIST (IDX) and CIFAR-10 (binary batches). Every reader checks
//! magic numbers, sizes and truncation and names the file and field of
//! what is wrong (exit code 2).
//!
//! - [`idx`]: the IDX format (MNIST, Fashion-MNIST), plain or gzipped;
//! - [`fashion_mnist`]: the four Fashion-MNIST files of a directory,
//!   [`fashion_mnist::default_dir`] where the Debian package put them;
//! - [`cifar`]: CIFAR-10 binary batches.

use crate::error::{Error, Result};
use std::path::Path;

pub mod cifar;
pub mod fashion_mnist;
pub mod idx;

/// A labelled image set, raw pixels as the files hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Images.
    pub n: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Number of classes; every label is below it.
    pub classes: usize,
    /// `n * channels * height * width` pixels, image-major, then channel,
    /// row, column (0..=255).
    pub images: Vec<u8>,
    /// `n` labels.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Pixels of one image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `i` (`i < n`).
    pub fn image(&self, i: usize) -> &[u8] {
        let l = self.image_len();
        &self.images[i * l..(i + 1) * l]
    }
}

/// Every label of `file` below `classes`; the first that is not is named
/// by its index in the file (`label[123]`).
pub(crate) fn check_labels(file: &Path, labels: &[u8], classes: usize) -> Result<()> {
    match labels.iter().position(|&l| l as usize >= classes) {
        Some(i) => Err(Error::invalid(
            file,
            format!("label[{i}]"),
            labels[i],
            format!("a class below {classes}"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_slices_and_label_check() {
        let d = Dataset {
            n: 2,
            channels: 1,
            height: 1,
            width: 3,
            classes: 10,
            images: vec![1, 2, 3, 4, 5, 6],
            labels: vec![0, 9],
        };
        assert_eq!(d.image_len(), 3);
        assert_eq!(d.image(1), &[4, 5, 6]);
        assert!(check_labels(Path::new("l"), &d.labels, 10).is_ok());
        let e = check_labels(Path::new("l"), &[3, 10], 10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "l: `label[1]` = 10: expected a class below 10"
        );
    }
}
