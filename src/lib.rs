//! elysiactl: run, watch, script and repair a multi-node Weaviate cluster and
//! the Elysia service. The command line is a thin layer over bundled scripts;
//! scripts call the host API; the host API drives runtimes and clients.

pub mod cli;
pub mod clients;
pub mod config;
pub mod embed;
pub mod error;
pub mod health;
pub mod host;
pub mod index;
pub mod install;
pub mod paths;
pub mod redact;
pub mod repair;
pub mod retry;
pub mod runtime;
pub mod schedule;
pub mod script;
pub mod services;
pub mod sys;
