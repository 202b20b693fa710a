//! `index sync --rebuild`: re-create an index collection the current way
//! (its indexing, issue 21) without search going dark. The new collection
//! fills beside the old one under a versioned name (Code_v2, Code_v3, …);
//! then the name the user searches by becomes an alias of it, and the old
//! collection goes. The index is derived from the repositories, so nothing
//! is lost: a rebuild that fails leaves the old collection serving, and the
//! next rebuild starts its half-filled successor over.

use super::schema::{index_class, resolve, IndexClass};
use super::store::Store;
use super::{node0_client, sync_into, SyncOptions};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use serde_json::{json, Value};
use std::time::Instant;

/// `name`'s next version: one past the version of the collection it points
/// at now ("Code" itself counts as version 1).
fn next_version(name: &str, current: &str) -> String {
    let version = current
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix("_v"))
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(1);
    format!("{name}_v{}", version + 1)
}

pub(super) fn rebuild(ctx: &Context, o: &SyncOptions, name: &str) -> HostResult<Value> {
    let client = node0_client(ctx);
    let Some(old) = index_class(ctx, name)? else {
        // Nothing to rebuild: a first sync creates it the current way.
        let mut summary = sync_into(ctx, o, name)?;
        summary["rebuilt"] = Value::Null;
        return Ok(summary);
    };
    let aliased = old.class != name;
    let new = next_version(name, &old.class);
    if resolve(ctx, &new)? != new {
        return Err(HostError::validation(format!(
            "{new} is an alias; a rebuild would write {name}'s next version there"
        ))
        .with_hint(format!(
            "delete that alias, or rebuild under another name than {name}"
        )));
    }
    // A collection of that name is an earlier rebuild that did not finish
    // (it would be the alias's target otherwise): start it over.
    if let Some(leftover) = index_class(ctx, &new)? {
        drop_leftover(ctx, &leftover)?;
    }
    let store = Store::open(&o.store)?;
    store.forget_collection(&new)?;
    drop(store);
    let fill = SyncOptions {
        paths: o.paths.clone(),
        collection: new.clone(),
        store: o.store.clone(),
        max_files: None,
        rescan: true,
        rebuild: false,
    };
    let mut summary = sync_into(ctx, &fill, &new)?;
    // The switch. An alias switches at once; the first rebuild of a
    // collection made before aliases must drop it before the alias can take
    // its name, a gap of two requests (measured in swap_ms).
    let t = Instant::now();
    if aliased {
        ctx.block_on(client.update_alias(name, &new))?;
        ctx.block_on(client.delete_class(&old.class))?;
    } else {
        ctx.block_on(client.delete_class(name))?;
        ctx.block_on(client.create_alias(name, &new))?;
    }
    let swap_ms = t.elapsed().as_secs_f64() * 1000.0;
    Store::open(&o.store)?.replace_collection(&new, name)?;
    summary["collection"] = json!(name);
    summary["schema_outdated"] = Value::Null;
    summary["rebuilt"] = json!({
        "from": old.class, "to": new, "was_outdated": old.outdated,
        "swap": if aliased { "alias switched" } else { "collection replaced by an alias" },
        "swap_ms": (swap_ms * 10.0).round() / 10.0,
    });
    Ok(summary)
}

/// Drops a half-filled successor; refuses anything an alias points at.
fn drop_leftover(ctx: &Context, leftover: &IndexClass) -> HostResult<()> {
    let aliases = ctx.block_on(node0_client(ctx).aliases(Some(&leftover.class)))?;
    if let Some(a) = aliases.first() {
        return Err(HostError::validation(format!(
            "{} is what alias {} points at, not an unfinished rebuild",
            leftover.class, a["alias"]
        ))
        .with_hint("rebuild through that alias's name (--collection)"));
    }
    ctx.block_on(node0_client(ctx).delete_class(&leftover.class))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_the_name_itself() {
        assert_eq!(next_version("Code", "Code"), "Code_v2");
        assert_eq!(next_version("Code", "Code_v2"), "Code_v3");
        assert_eq!(next_version("Code", "Code_v41"), "Code_v42");
        // An alias someone pointed elsewhere: versions start again.
        assert_eq!(next_version("Code", "Other"), "Code_v2");
    }
}
