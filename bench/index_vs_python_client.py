#!/usr/bin/env python3
"""`elysiactl index sync` against the official Python client (weaviate-client),
side by side on one three-node cluster, on a corpus every machine here can
rebuild identically: the sources of the crates that this project's Cargo.lock
pins for the machine's platform (`cargo fetch` puts them under ~/.cargo/registry/src).

Per round:
  1. per embedder, elysiactl indexes the corpus into a fresh collection (first sync): wall
     time, files/s, chunks/s, and peak RSS (the kernel's, from wait4);
  2. the same command again (no-op re-sync): wall time; then (embedder none) the first sync
     again over REST (index.transport = "rest") into a collection of its own;
  3. the chunks elysiactl wrote are read back once (not timed) and the Python
     client imports exactly those objects, same IDs, properties and vectors, into a
     collection with the same schema (replication factor included), in each of
     its batch modes (fixed_size, dynamic, stream), in a process of its own:
     only the batch loop is timed, with the objects already in memory; with
     --python-schemas elysiactl,default also into a collection with the same
     properties and every index at Weaviate's default (what the documentation
     leads a Python user to create);
  4. every collection's object count is checked against the chunk count.
Medians over the rounds; the ratio is elysiactl's end-to-end chunks/s (walk,
read, hash, chunk, embed and upload) over the fastest Python mode's upload-only
chunks/s, so it understates elysiactl's upload throughput. Client CPU is each
process's user + system time (wait4): on a machine that also runs the cluster,
the CPU a client does not use is left to the servers.

Each embedder (none, static, minilm) gets its own collections: the Python
client imports the same chunks with the same vectors elysiactl computed. The
transformer (minilm) indexes only the first --minilm-crates crates: on two
cores the whole corpus would take hours.

usage: bench/index_vs_python_client.py [--rounds N] [--crates N] [--embedders none,static,minilm]
       [--minilm-crates N] [--modes fixed_size,dynamic,stream] [--no-rest] [--elysiactl PATH]
       [--python-schemas elysiactl,default]
       (needs weaviate-client: run it with the Elysia venv's python, or it re-runs itself there)
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

from benchlib import DATA, ROOT, Cluster, machine

VENV_PY = os.path.join(DATA, "elysia-venv", "bin", "python")
MODES = ["fixed_size", "dynamic", "stream"]


def corpus(limit):
    """The crates Cargo.lock pins for this platform, as `cargo fetch` unpacks them."""
    host = next(l.split()[1] for l in subprocess.run(["rustc", "-vV"], check=True, capture_output=True,
                                                       text=True).stdout.splitlines() if l.startswith("host:"))
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", host],
        cwd=ROOT, check=True, capture_output=True).stdout)
    dirs = sorted(os.path.dirname(p["manifest_path"]) for p in meta["packages"]
                  if (p.get("source") or "").startswith("registry+"))
    missing = [d for d in dirs if not os.path.isdir(d)]
    if missing:
        raise SystemExit(f"{len(missing)} crate folders are missing (first: {missing[0]}); run `cargo fetch`")
    return dirs[:limit] if limit else dirs


def node_pids(rest):
    """PIDs of the cluster's three weaviate-server processes, by their REST ports."""
    ports = {f"--port\0{rest + i}\0" for i in range(3)}
    pids = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                line = f.read().decode(errors="replace")
        except OSError:
            continue
        if "weaviate-server" in line and any(p in line for p in ports):
            pids.append(int(d))
    return pids


def server_cpu(pids):
    """CPU seconds the nodes have used so far (user + system)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def timed(cmd, env):
    """(seconds, peak RSS bytes, stdout, CPU seconds) of one child process, from wait4."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[:3])} failed ({p.returncode}): {err.read().decode()[-800:]}")
        return dt, usage.ru_maxrss * 1024, out.read(), usage.ru_utime + usage.ru_stime


def connect(rest, grpc):
    import weaviate
    return weaviate.connect_to_custom(
        http_host="127.0.0.1", http_port=rest, http_secure=False,
        grpc_host="127.0.0.1", grpc_port=grpc, grpc_secure=False, skip_init_checks=True,
        additional_config=weaviate.classes.init.AdditionalConfig(
            timeout=weaviate.classes.init.Timeout(init=30, query=120, insert=300)))


def dump_chunks(rest, grpc, collection, path):
    c = connect(rest, grpc)
    n = 0
    try:
        with open(path, "w") as f:
            for o in c.collections.get(collection).iterator(include_vector=True):
                vector = (o.vector or {}).get("default")
                f.write(json.dumps({"id": str(o.uuid), "p": o.properties, "v": vector}) + "\n")
                n += 1
    finally:
        c.close()
    return n


def schema(rest, collection):
    with urllib.request.urlopen(f"http://127.0.0.1:{rest}/v1/schema/{collection}") as r:
        return json.load(r)


def create_like(rest, cls, target):
    """A collection with the schema (replication factor included) of another."""
    body = json.dumps(dict(cls, **{"class": target})).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{rest}/v1/schema", data=body,
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()


def default_indexed(cls):
    """The collection a Python user following Weaviate's documentation creates for these
    objects: the same properties and replication factor, every index left at its default."""
    return {"class": cls["class"], "vectorizer": "none", "description": cls.get("description", ""),
            "replicationConfig": cls["replicationConfig"],
            "properties": [{"name": p["name"], "dataType": p["dataType"]} for p in cls["properties"]]}


def count(rest, grpc, collection):
    c = connect(rest, grpc)
    try:
        return c.collections.get(collection).aggregate.over_all(total_count=True).total_count
    finally:
        c.close()


def drop(rest, grpc, collection):
    c = connect(rest, grpc)
    try:
        c.collections.delete(collection)
    finally:
        c.close()


def worker(mode, chunks_file, collection, rest, grpc, concurrency, order="dumped"):
    """Runs in a process of its own: loads the chunks, then times the import. `order`:
    as dumped (by UUID), or "file" (by repository, path and chunk, as elysiactl sends them)."""
    objects = []
    with open(chunks_file) as f:
        for line in f:
            o = json.loads(line)
            objects.append((o["id"], o["p"], o["v"]))
    if order == "file":
        objects.sort(key=lambda o: (o[1]["repository"], o[1]["path"], o[1]["chunk_index"]))
    c = connect(rest, grpc)
    try:
        col = c.collections.get(collection)
        if mode == "fixed_size":
            ctx = col.batch.fixed_size(batch_size=200, concurrent_requests=concurrency)
        elif mode == "dynamic":
            ctx = col.batch.dynamic()
        else:
            ctx = col.batch.stream(concurrency=concurrency)
        t0 = time.perf_counter()
        with ctx as batch:
            for uid, props, vector in objects:
                batch.add_object(properties=props, uuid=uid, vector=vector)
        dt = time.perf_counter() - t0
        failed = len(col.batch.failed_objects)
    finally:
        c.close()
    print(json.dumps({"seconds": dt, "objects": len(objects), "failed": failed}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--crates", type=int, default=0, help="index only the first N crates (0: all)")
    ap.add_argument("--embedders", default="none,static,minilm")
    ap.add_argument("--minilm-crates", type=int, default=4,
                    help="the transformer indexes only the first N crates: the whole corpus takes hours on 2 cores")
    ap.add_argument("--modes", default=",".join(MODES), help="the Python client's batch modes to time")
    ap.add_argument("--no-rest", action="store_true", help="skip the REST-transport row")
    ap.add_argument("--elysiactl", default=os.path.join(ROOT, "target", "release", "elysiactl"))
    ap.add_argument("--concurrency", type=int, default=4, help="Python client's concurrent requests")
    ap.add_argument("--python-schemas", default="elysiactl",
                    help="the collections the Python client imports into: elysiactl's schema, and/or "
                         "'default' (the same properties with Weaviate's default indexing and HNSW: what a "
                         "user following Weaviate's documentation creates)")
    ap.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        mode, f, col, rest, grpc, conc = a.worker
        return worker(mode, f, col, int(rest), int(grpc), int(conc))
    try:
        import weaviate  # noqa: F401
    except ImportError:
        if not os.path.exists(VENV_PY):
            raise SystemExit(f"weaviate-client is needed: run `elysiactl install elysia` (it makes {VENV_PY})")
        os.execv(VENV_PY, [VENV_PY, *sys.argv])
    if not os.path.exists(a.elysiactl):
        raise SystemExit(f"{a.elysiactl} is missing: run `cargo build --release`")
    dirs = corpus(a.crates)
    embedders = a.embedders.split(",")
    modes = [m + ("" if ps == "elysiactl" else "@" + ps)
             for ps in a.python_schemas.split(",") for m in a.modes.split(",")]
    rows = {e: {} for e in embedders}
    py_rss = {}
    corpus_of = {e: dirs[:a.minilm_crates] if e == "minilm" else dirs for e in embedders}

    def add(e, k, v):
        rows[e].setdefault(k, []).append(v)

    chunks_files = {}
    with Cluster(a.elysiactl) as c:
        nodes = node_pids(c.rest)
        if len(nodes) != 3:
            raise SystemExit(f"found {len(nodes)} weaviate-server processes on ports {c.rest}..{c.rest + 2}")
        try:
            for r in range(a.rounds):
                for e in embedders:
                    env = dict(c.env, ELYSIACTL_INDEX_EMBEDDER=e)
                    col = f"BenchCode{r}{e.capitalize()}"
                    cmd = [a.elysiactl, "index", "sync", *corpus_of[e], "--collection", col, "--json"]
                    before = server_cpu(nodes)
                    dt, rss, out, cpu = timed(cmd, env)
                    server = server_cpu(nodes) - before
                    s = json.loads(out)
                    for k, v in [("first_s", dt), ("files", s["files_indexed"]), ("chunks", s["chunks_uploaded"]),
                                 ("rss", rss), ("cpu", cpu), ("server_cpu", server)]:
                        add(e, k, v)
                    dt, _, out, _ = timed(cmd, env)
                    assert json.loads(out)["chunks_uploaded"] == 0, "the re-sync uploaded chunks"
                    add(e, "noop_s", dt)
                    if e == "none" and not a.no_rest:
                        # The same over REST, into a collection (and a store) of its own.
                        rest_env = dict(env, ELYSIACTL_INDEX_TRANSPORT="rest",
                                        XDG_DATA_HOME=os.path.join(c.home, f"data-rest{r}"))
                        dt, _, out, cpu = timed([a.elysiactl, "index", "sync", *dirs, "--collection", col + "Rest",
                                                 "--json"], rest_env)
                        n = count(c.rest, c.grpc, col + "Rest")
                        if n != json.loads(out)["chunks_uploaded"]:
                            raise SystemExit(f"{col}Rest holds {n} objects; elysiactl reported "
                                             f"{json.loads(out)['chunks_uploaded']}")
                        add(e, "rest_s", dt)
                        add(e, "rest_cpu", cpu)
                        drop(c.rest, c.grpc, col + "Rest")
                    if e not in chunks_files:
                        chunks_files[e] = tempfile.mktemp(prefix=f"elysiactl-bench-{e}-", suffix=".ndjson")
                        rows[e]["dumped"] = dump_chunks(c.rest, c.grpc, col, chunks_files[e])
                        rows[e]["schema"] = schema(c.rest, col)
                    n = count(c.rest, c.grpc, col)
                    if n != s["chunks_uploaded"] or n != rows[e]["dumped"]:
                        raise SystemExit(f"{col} holds {n} objects; elysiactl reported {s['chunks_uploaded']}, "
                                         f"the first round wrote {rows[e]['dumped']}")
                    drop(c.rest, c.grpc, col)
                    for mode in modes:
                        target = f"BenchPy{r}{e.capitalize()}{mode.replace('_', '').replace('@', 'On')}"
                        cls = rows[e]["schema"]
                        if mode.endswith("@default"):
                            cls = default_indexed(cls)
                        create_like(c.rest, cls, target)
                        before = server_cpu(nodes)
                        _, rss, out, cpu = timed([sys.executable, os.path.abspath(__file__), "--worker",
                                                  mode.split("@")[0],
                                                  chunks_files[e], target, str(c.rest), str(c.grpc),
                                                  str(a.concurrency)], c.env)
                        py_rss[(e, mode)] = max(py_rss.get((e, mode), 0), rss)
                        # The loading before the batch loop costs the nodes nothing.
                        add(e, mode + "_server_cpu", server_cpu(nodes) - before)
                        w = json.loads(out)
                        n = count(c.rest, c.grpc, target)
                        if w["failed"] or n != rows[e]["dumped"]:
                            raise SystemExit(f"python {mode}: {w['failed']} failed, {n} of {rows[e]['dumped']} "
                                             f"objects in {target}")
                        add(e, mode, w["seconds"])
                        add(e, mode + "_cpu", cpu)
                        drop(c.rest, c.grpc, target)
                    # Every figure of the round as it ends, so an interrupted run still tells something.
                    print(json.dumps({"round": r + 1, "embedder": e,
                                      **{k: v[-1] for k, v in rows[e].items() if isinstance(v, list)}}),
                          file=sys.stderr)
        finally:
            for f in chunks_files.values():
                if os.path.exists(f):
                    os.remove(f)
    report(a, rows, corpus_of, modes, py_rss)


def report(a, rows, corpus_of, modes, py_rss):
    print(f"# {machine(a.elysiactl)}; corpus: the crates of Cargo.lock; collections at factor 3; "
          f"median of {a.rounds} rounds; Python client with {a.concurrency} concurrent requests")
    print("| embedder | run | median | throughput | client CPU | peak RSS | Weaviate nodes' CPU (cores busy) |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for e, r in rows.items():
        med = {k: statistics.median(v) for k, v in r.items() if isinstance(v, list)}
        chunks = med["chunks"]
        ectl_cps = chunks / med["first_s"]
        where = f"{len(corpus_of[e])} crates, {int(med['files'])} files, {int(chunks)} chunks"
        print(f"| {e} | elysiactl first sync, gRPC ({where}) | {med['first_s']:.1f} s | "
              f"{med['files'] / med['first_s']:.0f} files/s, {ectl_cps:.0f} chunks/s | {med['cpu']:.1f} s | "
              f"{med['rss'] / 2**20:.0f} MB | {med['server_cpu']:.1f} s ({med['server_cpu'] / med['first_s']:.2f}) |")
        if "rest_s" in med:
            print(f"| {e} | elysiactl first sync, REST | {med['rest_s']:.1f} s | {chunks / med['rest_s']:.0f} chunks/s | "
                  f"{med['rest_cpu']:.1f} s | | |")
        print(f"| {e} | elysiactl no-op re-sync | {med['noop_s'] * 1000:.0f} ms | | | | |")
        for m in modes:
            into = " into a default-indexed collection" if m.endswith("@default") else ""
            print(f"| {e} | weaviate-client batch.{m.split('@')[0]}{into}, the same objects (upload only) | "
                  f"{med[m]:.1f} s | "
                  f"{chunks / med[m]:.0f} chunks/s | {med[m + '_cpu']:.1f} s (loading included) | "
                  f"{py_rss[(e, m)] / 2**20:.0f} MB (chunks preloaded) | "
                  f"{med[m + '_server_cpu']:.1f} s ({med[m + '_server_cpu'] / med[m]:.2f}) |")
        for schema in sorted({m.partition("@")[2] for m in modes}):
            group = [m for m in modes if m.partition("@")[2] == schema]
            best = min(group, key=lambda m: med[m])
            ratios.append(f"{e}: {ectl_cps / (chunks / med[best]):.2f}x against {best.split('@')[0]}"
                          f"{' into a default-indexed collection' if schema else ''} (client CPU, Python / "
                          f"elysiactl: {med[best + '_cpu'] / med['cpu']:.2f})")
    print("\nelysiactl end to end (walk, read, chunk, embed, upload) / fastest Python mode upload only: "
          + "; ".join(ratios))


if __name__ == "__main__":
    main()
