//! What a collection holds: its shards, where their replicas live, and how
//! many objects it has (a collection a dry run created reads as empty).

use super::simulated::collection_read;
use crate::base::error::HostResult;
use crate::clients::weaviate as wv;
use crate::host::{opt, read, Args, Host, HostFn, Ty};
use serde_json::{json, Value};

fn shards(host: &Host, a: &Args) -> HostResult<Value> {
    collection_read(host, &a.str(0)?, json!([]), |c, class| async move {
        c.shards(&class).await
    })
}

fn sharding_state(host: &Host, a: &Args) -> HostResult<Value> {
    let name = a.str(0)?;
    let empty = json!({"shardingState": {"collection": wv::class_name(&name)?, "shards": []}});
    collection_read(host, &name, empty, |c, class| async move {
        c.sharding_state(&class).await
    })
}

fn count(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(1)?;
    let tenant = o.str("tenant")?;
    collection_read(host, &a.str(0)?, json!(0), |c, class| {
        let tenant = tenant.clone();
        async move {
            c.count_tenant(&class, tenant.as_deref())
                .await
                .map(|n| json!(n))
        }
    })
}

pub(super) fn functions() -> Vec<HostFn> {
    vec![
        read("cluster", "shards", shards)
            .param("name", Ty::Str)
            .returns(Ty::array(Ty::Map))
            .doc("GET /v1/schema/{name}/shards: [{name, status (READY|READONLY|INDEXING|…), vectorQueueSize}]."),
        read("cluster", "sharding_state", sharding_state)
            .param("name", Ty::Str)
            .returns(Ty::record(&["shardingState"]))
            .doc("Which nodes hold each shard: {shardingState: {collection, shards: [{shard, replicas: [node, …]}]}}. Needs REPLICA_MOVEMENT_ENABLED=true on the nodes. A shard with fewer replicas than replicationConfig.factor is under-replicated."),
        read("cluster", "count", count)
            .param("name", Ty::Str)
            .opts(vec![opt("tenant", Ty::Str)])
            .returns(Ty::Int)
            .doc("Exact number of objects in a collection (GraphQL Aggregate meta count). opts: tenant = a tenant of a multi-tenant collection."),
    ]
}
