//! Operating-system helpers shared by the runtimes and services.
pub mod process;
