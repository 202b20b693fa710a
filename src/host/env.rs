//! The environment a script acts on (docs/environments.md), so a playbook
//! can say where it runs or refuse to run in the wrong one.

use super::{read, Args, Host, HostFn, Ty};
use crate::base::error::HostResult;
use crate::base::paths;
use serde_json::{json, Value};

fn current(host: &Host, _: &Args) -> HostResult<Value> {
    let w = &host.config.weaviate;
    Ok(json!({
        "name": paths::active_env(),
        "file": host.config.file_path().display().to_string(),
        "state": paths::state_dir().display().to_string(),
        "runtime": w.runtime.map(|r| r.as_str()),
        "remote": w.runtime == Some(crate::base::config::RuntimeKind::Remote),
        "cluster_name": w.cluster_name,
    }))
}

fn list(_: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(crate::services::envs::list(&paths::active_env())))
}

pub fn functions() -> Vec<HostFn> {
    vec![
        read("env", "current", current)
            .returns(Ty::record(&["name", "file", "state", "runtime", "remote", "cluster_name"]))
            .doc("The environment this script acts on: its name, config file, state folder, runtime (null: detected), whether it is a remote cluster, its Docker names. E.g. `if env::current().name == \"prod\" { throw \"not here\" }`."),
        read("env", "list", list)
            .returns(Ty::array(Ty::Map))
            .doc("Every environment as `elysiactl env list --json` shows it: name, current, file, runtime, weaviate, nodes, extends, running (or error)."),
    ]
}
