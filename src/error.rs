//! Errors a user can cause: files, formats, flags and devices. Shape mismatches are programmer
//! errors and panic instead (with the op name and both shapes), as PyTorch raises at the call.

use std::path::PathBuf;

/// Everything in gradschool that can fail for a reason outside the program.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A file was readable but its contents are wrong (bad magic, truncated, missing tensor …).
    #[error("{path}: {msg}")]
    Format {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// A flag or configuration value is invalid.
    #[error("{0}")]
    Config(String),
    /// Training stopped at a step boundary on Ctrl-C or SIGTERM, its checkpoint saved.
    #[error("{0}")]
    Interrupted(String),
    /// The requested device cannot be used.
    #[error("device: {0}")]
    Device(String),
}

/// `Result` with gradschool's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// A format error in `path`.
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format { path: path.into(), msg: msg.into() }
    }
}
