//! Clients of the things elysiactl manages, each over its real API.
pub mod docker;
pub mod elysia;
pub mod s3;
pub mod weaviate;
