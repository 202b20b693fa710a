//! The bottom layer: what every layer above may use, and which uses nothing
//! above it.

pub mod cancel;
pub mod config;
pub mod context;
pub mod error;
pub mod json;
pub mod logfile;
pub mod output;
pub mod paths;
pub mod process;
pub mod redact;
pub mod retry;
#[cfg(test)]
pub mod testing;
pub mod units;
