#!/usr/bin/env python3
"""Retrieval quality of each embedder on a small labelled set of queries.

Corpus: seven crates this project's Cargo.lock pins (cron, humantime, uuid,
hdrhistogram, globset, rustyline, memmap2), as `cargo fetch` unpacks them, so
every machine rebuilds it identically. Each query below was written from a
file's purpose, before any result was seen, and is labelled with the file
that answers it. The corpus is indexed once per embedder (none, static,
minilm) into a cluster of its own; every query runs through
`elysiactl index search` in each mode the collection supports.

With --schemas current,default each embedder's corpus is also indexed into a
collection created beforehand with Weaviate's default indexing for every
property (what index sync created before issue 21: every text property
searchable, path and repository included), which index sync writes to with a
warning; the two rows show what the tuned indexing does to the answers. "flat"
is the current schema with index.vector_index = "flat" (exact vector search).

Reported per embedder, schema and mode: MRR@10 (the mean of 1/rank of the first
chunk from the labelled file, 0 when it is not in the top 10), recall@1 and
recall@5, and the median query time (process start included).

usage: bench/embedder_quality.py [--elysiactl PATH] [--embedders none,static,minilm]
       [--schemas current[,default][,flat]]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

from benchlib import DATA, ROOT, Cluster, machine

CRATES = ["cron-0.15.0", "humantime-2.4.0", "uuid-1.29.3", "hdrhistogram-7.6.0",
          "globset-0.4.22", "rustyline-14.0.0", "memmap2-0.9.12"]

# (query, repository, path of the file that answers it)
QUERIES = [
    ("parse a human readable duration such as 1h 30m", "humantime-2.4.0", "src/duration.rs"),
    ("format a system time as an RFC 3339 timestamp", "humantime-2.4.0", "src/date.rs"),
    ("find the next upcoming datetimes that match a cron schedule", "cron-0.15.0", "src/schedule.rs"),
    ("parse the fields of a cron expression string", "cron-0.15.0", "src/parsing.rs"),
    ("create a name based UUID by hashing a namespace and a name with SHA-1", "uuid-1.29.3", "src/v5.rs"),
    ("generate a random UUID", "uuid-1.29.3", "src/v4.rs"),
    ("parse a UUID from its hyphenated string form", "uuid-1.29.3", "src/parser.rs"),
    ("time-ordered UUID from a Unix timestamp in milliseconds", "uuid-1.29.3", "src/v7.rs"),
    ("record a value into a histogram and read quantiles", "hdrhistogram-7.6.0", "src/lib.rs"),
    ("serialize a histogram with compression", "hdrhistogram-7.6.0", "src/serialization/v2_deflate_serializer.rs"),
    ("iterate over histogram values at percentile steps", "hdrhistogram-7.6.0", "src/iterators/quantile.rs"),
    ("match file paths against many glob patterns at once", "globset-0.4.22", "src/lib.rs"),
    ("translate a glob pattern into a regular expression", "globset-0.4.22", "src/glob.rs"),
    ("save and load the command history of a line editor", "rustyline-14.0.0", "src/history.rs"),
    ("undo and redo edits of the input line", "rustyline-14.0.0", "src/undo.rs"),
    ("emacs and vi key bindings", "rustyline-14.0.0", "src/keymap.rs"),
    ("tab completion of file names", "rustyline-14.0.0", "src/completion.rs"),
    ("highlight matching brackets in the input", "rustyline-14.0.0", "src/highlight.rs"),
    ("map a file into memory read only", "memmap2-0.9.12", "src/lib.rs"),
    ("advise the kernel about the expected memory access pattern", "memmap2-0.9.12", "src/advice.rs"),
]


def registry_dirs():
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    src = os.path.join(home, "registry", "src")
    for index in sorted(os.listdir(src)):
        dirs = [os.path.join(src, index, c) for c in CRATES]
        if all(os.path.isdir(d) for d in dirs):
            return dirs
    raise SystemExit(f"the crates {', '.join(CRATES)} are not all under {src}: run `cargo fetch`")


def run_json(c, args, env):
    p = subprocess.run([c.ectl, *args, "--json"], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"elysiactl {' '.join(args[:3])} failed: {p.stderr[-800:]}")
    return json.loads(p.stdout)


def evaluate(c, env, collection, mode, repeat=1):
    """Each query `repeat` times: a BM25 ranking can differ between calls (each goes to one
    replica, whose segments and term statistics are its own), so the figures are means."""
    ranks, times = [], []
    for _ in range(repeat):
        for query, repo, path in QUERIES:
            t0 = time.perf_counter()
            r = run_json(c, ["index", "search", query, "--collection", collection, "--mode", mode,
                             "--limit", "10"], env)
            times.append(time.perf_counter() - t0)
            rank = next((h["rank"] for h in r["hits"]
                         if h["repository"] == repo and h["path"] == path), None)
            ranks.append(rank)
    n = len(ranks)
    return {
        "mrr10": sum(1 / r for r in ranks if r) / n,
        "recall1": sum(1 for r in ranks if r == 1) / n,
        "recall5": sum(1 for r in ranks if r and r <= 5) / n,
        "query_ms": statistics.median(times) * 1000,
        "ranks": ranks,
    }


# index sync's properties; "default" leaves their indexing to Weaviate.
PROPERTIES = [("content", "text"), ("repository", "text"), ("path", "text"), ("language", "text"),
              ("chunk_index", "int"), ("start_line", "int"), ("end_line", "int"),
              ("commit", "text"), ("content_hash", "text")]


# The tuned indexing (src/index/schema.rs), and a variant of it with path searchable as words.
KEY = {"tokenization": "field", "indexSearchable": False, "indexFilterable": True}
TUNED = {"content": {"tokenization": "word", "indexSearchable": True, "indexFilterable": False},
         "repository": KEY, "path": KEY, "language": KEY, "commit": KEY, "content_hash": KEY,
         "chunk_index": {"indexFilterable": False, "indexRangeFilters": False},
         "start_line": {"indexFilterable": False, "indexRangeFilters": False},
         "end_line": {"indexFilterable": False, "indexRangeFilters": False}}
WORDS = {"tokenization": "word", "indexSearchable": True, "indexFilterable": True}
INDEXING = {"default": {},
            "keysword": dict(TUNED, path=WORDS, repository=WORDS),
            "pathword": dict(TUNED, path={"tokenization": "word", "indexSearchable": True,
                                          "indexFilterable": True})}


def create_default_indexed(c, col, emb, schema="default"):
    cls = {"class": col, "vectorizer": "none", "vectorIndexConfig": {"distance": "cosine"},
           "description": f"Source code chunks written by elysiactl index sync (embedder: {emb})",
           "replicationConfig": {"factor": 3},
           "properties": [dict({"name": n, "dataType": [t]}, **INDEXING[schema].get(n, {}))
                          for n, t in PROPERTIES]}
    req = urllib.request.Request(f"http://127.0.0.1:{c.rest}/v1/schema", data=json.dumps(cls).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--elysiactl", default=os.path.join(ROOT, "target", "release", "elysiactl"))
    ap.add_argument("--embedders", default="none,static,minilm")
    ap.add_argument("--schemas", default="current")
    ap.add_argument("--repeat", type=int, default=1, help="run each query this many times")
    a = ap.parse_args()
    dirs = registry_dirs()
    rows = []
    with Cluster(a.elysiactl) as c:
        for emb in a.embedders.split(","):
            for schema in a.schemas.split(","):
                env = dict(c.env, ELYSIACTL_INDEX_EMBEDDER=emb,
                           ELYSIACTL_INDEX_VECTOR_INDEX="flat" if schema == "flat" else "hnsw")
                col = f"Quality{emb.capitalize()}{'' if schema == 'current' else schema.capitalize()}"
                if schema in INDEXING:
                    create_default_indexed(c, col, emb, schema)
                t0 = time.perf_counter()
                s = run_json(c, ["index", "sync", *dirs, "--collection", col], env)
                sync_s = time.perf_counter() - t0
                modes = ["bm25"] if emb == "none" else ["bm25", "vector", "hybrid"]
                for mode in modes:
                    r = evaluate(c, env, col, mode, a.repeat)
                    rows.append((emb, schema, mode, s["chunks_uploaded"], sync_s, r))
                    print(f"{emb} {schema} {mode}: MRR@10 {r['mrr10']:.3f}, ranks {r['ranks']}",
                          file=sys.stderr)
    print(f"# {machine(a.elysiactl)}; {len(QUERIES)} labelled queries over {len(CRATES)} crates")
    print("| embedder | schema | search | chunks | sync | MRR@10 | recall@1 | recall@5 | query (median) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for emb, schema, mode, chunks, sync_s, r in rows:
        print(f"| {emb} | {schema} | {mode} | {chunks} | {sync_s:.1f} s | {r['mrr10']:.3f} | {r['recall1']:.2f} | "
              f"{r['recall5']:.2f} | {r['query_ms']:.0f} ms |")


if __name__ == "__main__":
    main()
