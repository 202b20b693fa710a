//! The managed services' lifecycles: what `start`, `stop`, `restart` and
//! `status` mean for Weaviate (over a runtime) and for Elysia (a process).
pub mod config_apply;
pub mod config_diff;
pub mod elysia;
pub mod elysia_workers;
pub mod envs;
pub mod readiness;
pub mod scale;
pub mod scratch;
pub mod weaviate;
