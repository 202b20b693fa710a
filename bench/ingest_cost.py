#!/usr/bin/env python3
"""What an import costs the Weaviate nodes per chunk, by collection schema and by client.

One three-node cluster (process runtime, factor 3). elysiactl indexes the first --crates
crates of Cargo.lock once per embedder (that sync's server CPU is the "elysiactl" row);
the chunks it wrote are read back, and then the official Python client imports exactly
those objects (IDs, properties, vectors) into one fresh collection per schema variant:

  default   the properties with Weaviate's default indexing (every text property word-
            tokenized, searchable and filterable; ints filterable): what a user following
            Weaviate's documentation creates, and what index sync created before issue 21;
  tuned     each property indexed only the way it is queried (see src/index/schema.rs);
  fieldkeys tuned, with repository and path filterable only (the first tuned schema);
  lean      tuned, with commit and content_hash not indexed at all;
  +flat, +dynamic, +skip  with a flat vector index (exact search), a dynamic one (flat, then
            HNSW past its threshold; --async only), or none at all (no vectors sent).

Server CPU is the nodes' user + system time from /proc, counted from the import's start
until the nodes are idle again (below 0.1 core over a second, at most 60 s after the
import returned), so background work an import causes (flushes, compactions, the
asynchronous vector queue) is charged to it. With --async the nodes run with
ASYNC_INDEXING=true and the count also waits until every shard's vector queue is empty.

usage: bench/ingest_cost.py [--crates 30] [--rounds 1] [--embedders none,static]
       [--variants default,elysiactl,tuned,lean,tuned+flat] [--async] [--elysiactl PATH] [--order file|uuid]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import ROOT, Cluster, machine  # noqa: E402
import index_vs_python_client as ivp  # noqa: E402
from index_vs_python_client import (VENV_PY, corpus, count, drop, dump_chunks,  # noqa: E402
                                    node_pids, schema, server_cpu)



# How each property is indexed, by variant: (searchable, filterable, tokenization) for text,
# (filterable, range) for ints. None: Weaviate's default for the type.
KEYS = {"tokenization": "field", "indexSearchable": False, "indexFilterable": True}
NEITHER_TEXT = {"indexSearchable": False, "indexFilterable": False}
NEITHER_INT = {"indexFilterable": False, "indexRangeFilters": False}
CONTENT = {"tokenization": "word", "indexSearchable": True, "indexFilterable": False}
NAMED = {"tokenization": "word", "indexSearchable": True, "indexFilterable": True}
VARIANTS = {
    "default": {},
    "tuned": dict(content=CONTENT, repository=NAMED, path=NAMED, language=KEYS, commit=KEYS,
                  content_hash=KEYS, chunk_index=NEITHER_INT, start_line=NEITHER_INT, end_line=NEITHER_INT),
    # The first tuned schema: repository and path filterable only (lost MRR@10 in hybrid search).
    "fieldkeys": dict(content=CONTENT, repository=KEYS, path=KEYS, language=KEYS, commit=KEYS,
                      content_hash=KEYS, chunk_index=NEITHER_INT, start_line=NEITHER_INT,
                      end_line=NEITHER_INT),
    "lean": dict(content=CONTENT, repository=NAMED, path=NAMED, language=KEYS, commit=NEITHER_TEXT,
                 content_hash=NEITHER_TEXT, chunk_index=NEITHER_INT, start_line=NEITHER_INT,
                 end_line=NEITHER_INT),
}


def variant_schema(seed_class, name, variant):
    """`variant` is a VARIANTS key, optionally with "+flat" (flat vector index), "+dynamic"
    (flat, then HNSW past 10000 objects; needs --async) or "+skip" (no vector index); "elysiactl" is the seed's schema as index sync made it."""
    base, *extras = variant.split("+")
    cls = {k: v for k, v in seed_class.items()
           if k in ("description", "vectorizer", "replicationConfig", "properties", "vectorIndexType",
                    "vectorIndexConfig", "invertedIndexConfig")}
    cls["class"] = name
    if base != "elysiactl":
        cls["properties"] = [dict({"name": p["name"], "dataType": p["dataType"]},
                                  **VARIANTS[base].get(p["name"], {})) for p in seed_class["properties"]]
        cls["vectorIndexType"] = "hnsw"
        cls["vectorIndexConfig"] = {"distance": "cosine"}
        cls.pop("invertedIndexConfig", None)
    if "flat" in extras:
        cls["vectorIndexType"] = "flat"
        cls["vectorIndexConfig"] = {"distance": "cosine"}
    if "dynamic" in extras:
        # Flat until the threshold, then HNSW; Weaviate allows it only with ASYNC_INDEXING.
        cls["vectorIndexType"] = "dynamic"
        cls["vectorIndexConfig"] = {"distance": "cosine"}
    if "skip" in extras:
        cls["vectorIndexConfig"] = {"distance": "cosine", "skip": True}
    return cls


def post_class(rest, cls):
    req = urllib.request.Request(f"http://127.0.0.1:{rest}/v1/schema", data=json.dumps(cls).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()


def queue_empty(rest, collection):
    with urllib.request.urlopen(f"http://127.0.0.1:{rest}/v1/nodes/{collection}?output=verbose") as r:
        nodes = json.load(r)["nodes"]
    return all(s.get("vectorQueueLength", 0) == 0 and s.get("vectorIndexingStatus", "READY") == "READY"
               for n in nodes for s in n.get("shards") or [])


def settle(nodes, rest, collection, wait_queue, limit=60.0):
    """Seconds until the nodes are idle (and the vector queue empty, when asked)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        a = server_cpu(nodes)
        time.sleep(1.0)
        idle = server_cpu(nodes) - a < 0.1
        if idle and (not wait_queue or queue_empty(rest, collection)):
            break
    return time.perf_counter() - t0


def py_import(c, collection, chunks_file, order):
    cmd = [VENV_PY, os.path.abspath(__file__), "--worker", collection, chunks_file, str(c.rest), str(c.grpc), order]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"python import failed: {r.stderr[-800:]}")
    out = json.loads(r.stdout)
    if out["failed"]:
        raise SystemExit(f"{out['failed']} objects failed")
    return time.perf_counter() - t0, out["seconds"]


def worker(collection, chunks_file, rest, grpc, order):
    """The client's import, as index_vs_python_client times it: fixed_size, 200 per batch, 4 in flight."""
    ivp.worker("fixed_size", chunks_file, collection, rest, grpc, 4, order)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    ap = argparse.ArgumentParser()
    ap.add_argument("--crates", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--embedders", default="none,static")
    ap.add_argument("--variants", default="default,elysiactl,tuned,lean")
    ap.add_argument("--async", dest="async_", action="store_true")
    ap.add_argument("--order", default="file", choices=["file", "uuid"],
                    help="the Python client's import order: elysiactl's (file) or the read-back's (uuid)")
    ap.add_argument("--elysiactl", default=os.path.join(ROOT, "target", "release", "elysiactl"))
    a = ap.parse_args()
    try:
        import weaviate  # noqa: F401
    except ImportError:
        if not os.path.exists(VENV_PY):
            raise SystemExit(f"weaviate-client is needed: run `elysiactl install elysia` (it makes {VENV_PY})")
        os.execv(VENV_PY, [VENV_PY, *sys.argv])
    dirs = corpus(a.crates)
    extra = '[weaviate.env]\nASYNC_INDEXING = "true"\n' if a.async_ else ""
    rows = {}
    work = tempfile.mkdtemp(prefix="ingest-cost-")
    with Cluster(a.elysiactl, extra) as c:
        nodes = node_pids(c.rest)
        assert len(nodes) == 3, nodes
        for r in range(a.rounds):
            for e in a.embedders.split(","):
                env = dict(c.env, ELYSIACTL_INDEX_EMBEDDER=e)
                seed = f"Seed{r}{e.capitalize()}"
                before = server_cpu(nodes)
                t0 = time.perf_counter()
                out = subprocess.run([a.elysiactl, "index", "sync", *dirs, "--collection", seed, "--json"],
                                     env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(out.stderr[-800:])
                wall = time.perf_counter() - t0
                wall += settle(nodes, c.rest, seed, a.async_)
                chunks = json.loads(out.stdout)["chunks_uploaded"]
                rows.setdefault((e, "elysiactl index sync"), []).append(
                    ((server_cpu(nodes) - before) / chunks * 1000, wall, chunks))
                seed_class = schema(c.rest, seed)
                path = os.path.join(work, f"{seed}.ndjson")
                assert dump_chunks(c.rest, c.grpc, seed, path) == chunks
                drop(c.rest, c.grpc, seed)
                for v in a.variants.split(","):
                    col = f"V{r}{e.capitalize()}{''.join(ch for ch in v.title() if ch.isalnum())}"
                    post_class(c.rest, variant_schema(seed_class, col, v))
                    before = server_cpu(nodes)
                    wall, upload = py_import(c, col, path, a.order)
                    wall += settle(nodes, c.rest, col, a.async_)
                    cpu = server_cpu(nodes) - before
                    assert count(c.rest, c.grpc, col) == chunks, col
                    rows.setdefault((e, f"python {v}"), []).append((cpu / chunks * 1000, wall, chunks))
                    drop(c.rest, c.grpc, col)
    print(f"# {time.strftime('%Y-%m-%d')}, {machine(a.elysiactl)}; {a.crates} crates; order {a.order}; "
          f"ASYNC_INDEXING {'on' if a.async_ else 'off'}; {a.rounds} round(s), medians")
    print("| embedder | run | chunks | server CPU per chunk | wall until idle |")
    print("|---|---|---|---|---|")
    for (e, run), vals in rows.items():
        med = lambda i: statistics.median(v[i] for v in vals)  # noqa: E731
        print(f"| {e} | {run} | {vals[0][2]} | {med(0):.2f} ms | {med(1):.1f} s |")


if __name__ == "__main__":
    main()
