//! The file-system failures every binary's run directory can meet, named by path, and the error a
//! binary's `run` returns. The errors of each job (a matrix, a run, a lock, a Slurm script) are
//! typed in its own module and wrap these.

use std::path::PathBuf;

/// A file or directory could not be made, read or changed.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// A directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A script could not be made executable.
    #[error("cannot make {} executable: {source}", path.display())]
    Executable {
        /// The script.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl FsError {
    /// `create_dir_all(path)`, its failure named.
    pub fn create_dir(path: &std::path::Path) -> Result<(), FsError> {
        std::fs::create_dir_all(path).map_err(|source| FsError::Create { path: path.to_path_buf(), source })
    }
}

/// What a binary's `run` returns: any of the library's errors, or a message of its own about
/// its command line; [`crate::cli::finish`] prints it.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;
