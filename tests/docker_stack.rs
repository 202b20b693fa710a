//! The whole stack with Weaviate in Docker containers (image built locally
//! from the Go binary): the same lifecycle scenario as the process runtime.

mod common;

use common::{docker_available, elysia_venv, require, Stack};

#[test]
fn docker_runtime_lifecycle() {
    if !require("a Docker engine", docker_available())
        || !require("the Elysia venv", elysia_venv().join("bin/elysia").exists())
    {
        return;
    }
    let s = Stack::new("docker", 3, true, "");
    common::scenario::full(&s, true);
}
