#!/usr/bin/env python3
"""Vector search time by vector index (index.vector_index), at a corpus size.

A flat index costs the nodes less per chunk written than HNSW (bench/ingest_cost.py), and its
search is exact, but every search reads every vector: this measures what that costs a search.
One three-node cluster (process runtime, factor 3); the first --crates crates of Cargo.lock are
indexed with the static embedder once per vector index; then --queries objects of the
collection are each used as a query (GraphQL nearObject, limit 10), --repeat times, and the
server round trip is timed from this process (no elysiactl process start in it). Reported:
the median and p95 per vector index, and how many of HNSW's top 10 the exact (flat) search
also returns (HNSW's recall@10 against exact search).

usage: bench/vector_index_search.py [--crates 100] [--queries 50] [--repeat 3] [--elysiactl PATH]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import ROOT, Cluster, machine  # noqa: E402
from index_vs_python_client import corpus  # noqa: E402


def post(rest, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{rest}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def near(rest, col, uid):
    q = f'{{ Get {{ {col}(limit: 10, nearObject: {{id: "{uid}"}}) {{ _additional {{ id }} }} }} }}'
    t0 = time.perf_counter()
    v = post(rest, "/v1/graphql", {"query": q})
    dt = time.perf_counter() - t0
    if v.get("errors"):
        raise SystemExit(f"{col}: {v['errors']}")
    return dt, [h["_additional"]["id"] for h in v["data"]["Get"][col]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crates", type=int, default=100)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--elysiactl", default=os.path.join(ROOT, "target", "release", "elysiactl"))
    a = ap.parse_args()
    dirs = corpus(a.crates)
    times, tops, chunks = {}, {}, {}
    with Cluster(a.elysiactl) as c:
        for vi in ["hnsw", "flat"]:
            col = f"Search{vi.capitalize()}"
            env = dict(c.env, ELYSIACTL_INDEX_EMBEDDER="static", ELYSIACTL_INDEX_VECTOR_INDEX=vi)
            p = subprocess.run([a.elysiactl, "index", "sync", *dirs, "--collection", col, "--json"],
                               env=env, capture_output=True, text=True)
            if p.returncode != 0:
                raise SystemExit(f"index sync into {col} failed: {p.stderr[-800:]}")
            chunks[vi] = json.loads(p.stdout)["chunks_uploaded"]
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{c.rest}/v1/objects?class={col}&limit={a.queries}") as r:
                ids = [o["id"] for o in json.load(r)["objects"]]
            times[vi], tops[vi] = [], {}
            near(c.rest, col, ids[0])  # the first search loads what it needs
            for _ in range(a.repeat):
                for uid in ids:
                    dt, top = near(c.rest, col, uid)
                    times[vi].append(dt * 1000)
                    tops[vi][uid] = top
    # Both collections hold the same chunks under the same IDs: compare the top 10s.
    shared = [u for u in tops["hnsw"] if u in tops["flat"]]
    recall = statistics.mean(len(set(tops["hnsw"][u]) & set(tops["flat"][u])) / 10 for u in shared)
    print(f"# {machine(a.elysiactl)}; {a.crates} crates, static embedder, factor 3; "
          f"{a.queries} nearObject queries x {a.repeat}")
    print("| vector index | chunks | search median | p95 |")
    print("|---|---|---|---|")
    for vi in ["hnsw", "flat"]:
        t = sorted(times[vi])
        print(f"| {vi} | {chunks[vi]} | {statistics.median(t):.1f} ms | {t[int(len(t) * 0.95) - 1]:.1f} ms |")
    print(f"\nHNSW's top 10 against the exact (flat) top 10: recall@10 {recall:.3f} over {len(shared)} queries")


if __name__ == "__main__":
    main()
