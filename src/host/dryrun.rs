//! Dry-run: reads run for real, writes are recorded as a plan and printed,
//! and their simulated effects are remembered so that a playbook's later
//! steps see what the earlier steps would have done.

use super::{Args, Host, HostFn};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct Plan {
    steps: Mutex<Vec<Value>>,
    facts: Mutex<BTreeMap<String, Value>>,
}

impl Plan {
    pub fn record(&self, host: &Host, f: &HostFn, args: &Args) {
        let step = json!({
            "call": f.qualified_name(),
            "args": args.values(),
        });
        let line = format!(
            "would {}({})",
            f.qualified_name(),
            args.values()
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        host.out.plan_line(&line);
        self.steps.lock().unwrap().push(step);
    }

    pub fn steps(&self) -> Vec<Value> {
        self.steps.lock().unwrap().clone()
    }

    /// Remember a simulated fact, e.g. `service.weaviate` = "stopped".
    pub fn set_fact(&self, key: &str, value: Value) {
        self.facts.lock().unwrap().insert(key.to_string(), value);
    }

    pub fn fact(&self, key: &str) -> Option<Value> {
        self.facts.lock().unwrap().get(key).cloned()
    }
}
