//! Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017): 28x28 grey-scale
//! images of 10 classes of clothing, 60,000 for training and 10,000 for
//! testing, as four IDX files (see [`super::idx`]), each plain or gzipped.
//!
//! The Debian package `dataset-fashion-mnist` installs them, gzipped, in
//! [`DEBIAN_DIR`]; `make data` installs it.

use super::{Dataset, idx};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Classes (T-shirt/top, trouser, pullover, dress, coat, sandal, shirt,
/// sneaker, bag, ankle boot).
pub const CLASSES: usize = 10;
/// Where the Debian package `dataset-fashion-mnist` puts the files
/// (`*-idx?-ubyte.gz`).
pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// Environment variable naming a directory that holds the files; it takes
/// precedence over [`DEBIAN_DIR`].
pub const ENV_DIR: &str = "CAPIM_FASHION_MNIST";

/// Which half of the data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// 60,000 images: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`.
    Train,
    /// 10,000 images: `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`.
    Test,
}

impl Split {
    /// File names of the images and the labels, without `.gz`.
    pub fn file_names(self) -> (&'static str, &'static str) {
        match self {
            Split::Train => ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            Split::Test => ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        }
    }
}

/// `dir/name` if it exists, else `dir/name.gz` if that exists.
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    [plain, gz].into_iter().find(|p| p.exists())
}

/// The directory of the files: `$CAPIM_FASHION_MNIST` when it is set and
/// not empty (whether or not the files are there, so that a wrong setting
/// is reported rather than passed over), else [`DEBIAN_DIR`] when all four
/// files are there, else `None`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV_DIR).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let dir = Path::new(DEBIAN_DIR);
    let complete = [Split::Train, Split::Test].into_iter().all(|s| {
        let (images, labels) = s.file_names();
        find(dir, images).is_some() && find(dir, labels).is_some()
    });
    complete.then(|| dir.to_path_buf())
}

/// Loads one split from `dir`: each file named as in [`Split::file_names`],
/// plain or with `.gz` (the plain one is taken when both exist). Checks,
/// beyond those of [`idx`]: as many labels as images, every label below
/// [`CLASSES`]. One channel; height and width as the images file says
/// (28x28 for the real data).
pub fn load(dir: &Path, split: Split) -> Result<Dataset> {
    let (images_name, labels_name) = split.file_names();
    let locate = |name: &str| {
        find(dir, name).ok_or_else(|| {
            Error::io(
                dir.join(name),
                format!(
                    "no such file (nor {name}.gz); install the Fashion-MNIST files with \
                     `make data` (Debian package dataset-fashion-mnist) or set {ENV_DIR} \
                     to their directory"
                ),
            )
        })
    };
    let images_path = locate(images_name)?;
    let labels_path = locate(labels_name)?;
    let (n, height, width, images) = idx::read_images(&images_path)?;
    let labels = idx::read_labels(&labels_path)?;
    if labels.len() != n {
        return Err(Error::invalid(
            &labels_path,
            "dimension 0",
            format!("{} labels", labels.len()),
            format!("{n} labels, one per image of {}", images_path.display()),
        ));
    }
    super::check_labels(&labels_path, &labels, CLASSES)?;
    Ok(Dataset {
        n,
        channels: 1,
        height,
        width,
        classes: CLASSES,
        images,
        labels,
    })
}
