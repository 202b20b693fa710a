//! elysiactl: run, watch, script and repair a multi-node Weaviate cluster and
//! the Elysia service.
//!
//! Every import points down (tests/layers.rs checks it):
//!
//! ```text
//! cli        the clap tree from script headers; meta commands
//! script     the Rhai and Lua engines over one registry; the catalog; the REPL
//! host       the host API scripts call; dry-run is decided here
//! domain     services, runtime, health, repair, index, embed, schedule, install, testdata,
//!            benchmark, logs, chaos
//! clients    Weaviate (REST, gRPC), Docker, Elysia: transport, auth, models
//! base       context, cancellation, output, units, config, errors, paths, processes
//! ```

pub mod cli;
pub mod script;

pub mod host;

pub mod backup;
pub mod benchmark;
pub mod chaos;
pub mod embed;
pub mod health;
pub mod index;
pub mod install;
pub mod logs;
pub mod migrate;
pub mod repair;
pub mod runtime;
pub mod schedule;
pub mod services;
pub mod testdata;

pub mod clients;

pub mod base;
