//! Commands the UI can call, one file per group.
pub mod stream;
