"""Reads and writes through the official weaviate-client while a test restarts
the cluster. Each operation tries the nodes in turn (a client pinned to one
node would fail while that node restarts); an operation counts as failed only
when no node served it. Stops when the stop file appears; prints a JSON summary.

Durability is checked through the object API (GET /v1/objects/C/ID at QUORUM),
which merges the replicas. The client's by-ID fetch is a gRPC search, and a
search only returns what the coordinating node's own replica holds: right
after a node comes back it lacks the writes it missed (Weaviate has no hinted
hand-off), so such a read may come back empty although the write is safe on
the other replicas. Those reads are counted as `stale_reads`, not failures.

usage: client_load.py HOST REST_PORT0 GRPC_PORT0 NODES COLLECTION STOP_FILE READY_FILE
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

import weaviate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.config import ConsistencyLevel

host, rest0, grpc0, nodes, name, stop_file, ready_file = sys.argv[1:8]
rest0, grpc0, nodes = int(rest0), int(grpc0), int(nodes)


def connect(i):
    return weaviate.connect_to_custom(
        http_host=host, http_port=rest0 + i, http_secure=False,
        grpc_host=host, grpc_port=grpc0 + i, grpc_secure=False,
        skip_init_checks=True,
    )


clients = [None] * nodes


def client(i):
    if clients[i] is None:
        clients[i] = connect(i)
    return clients[i]


def drop(i):
    try:
        if clients[i] is not None:
            clients[i].close()
    except Exception:
        pass
    clients[i] = None


def on_any_node(op):
    errors = []
    for attempt in range(3):
        for i in range(nodes):
            try:
                return op(client(i))
            except Exception as e:  # the node may be restarting: try the next one
                errors.append(f"node {i}: {type(e).__name__}: {e}"[:300])
                drop(i)
        time.sleep(0.5)
    raise RuntimeError("; ".join(errors[-nodes:]))


factor = min(nodes, 3)
c = client(0)
if c.collections.exists(name):
    c.collections.delete(name)
c.collections.create(
    name,
    properties=[Property(name="seq", data_type=DataType.INT), Property(name="text", data_type=DataType.TEXT)],
    vector_config=Configure.Vectors.self_provided(),
    replication_config=Configure.replication(factor=factor),
)

written, read_ok, stale_reads, failures, seq = [], 0, 0, [], 0
open(ready_file, "w").close()
deadline = time.time() + 600
while not os.path.exists(stop_file) and time.time() < deadline:
    seq += 1
    oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{seq}"))
    try:
        on_any_node(lambda cl: cl.collections.get(name).with_consistency_level(ConsistencyLevel.QUORUM)
                    .data.insert({"seq": seq, "text": f"object {seq}"}, uuid=oid, vector=[0.1 * (seq % 7), 0.2, 0.3]))
        written.append((oid, seq))
        got = on_any_node(lambda cl: cl.collections.get(name).with_consistency_level(ConsistencyLevel.QUORUM)
                          .query.fetch_object_by_id(oid))
        if got is None:
            stale_reads += 1
        elif got.properties.get("seq") == seq:
            read_ok += 1
        else:
            failures.append(f"read {seq}: got {got.properties!r}"[:300])
    except Exception as e:
        failures.append(f"op {seq}: {e}"[:500])
    time.sleep(0.02)



def object_seq(oid):
    """The object's seq through the object API at QUORUM, trying each node."""
    errors = []
    for i in range(nodes):
        url = f"http://{host}:{rest0 + i}/v1/objects/{name}/{oid}?consistency_level=QUORUM"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.load(r)["properties"]["seq"]
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            errors.append(f"node {i}: HTTP {e.code}")
        except Exception as e:
            errors.append(f"node {i}: {e}")
    raise RuntimeError("; ".join(errors))


# After the restart: every acknowledged write must be there, with its content.
missing = []
for oid, expected in written:
    try:
        found = object_seq(oid)
        if found != expected:
            missing.append(f"{oid}: seq {found!r}, wrote {expected}")
    except Exception as e:
        missing.append(f"{oid}: {e}"[:200])
for i in range(nodes):
    drop(i)
print(json.dumps({"written": len(written), "read_ok": read_ok, "stale_reads": stale_reads,
                  "failures": failures[:20], "failure_count": len(failures),
                  "missing": missing[:20], "missing_count": len(missing)}))
