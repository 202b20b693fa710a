#!/usr/bin/env python3
"""`elysiactl benchmark` against `weaviate-cli benchmark qps`, side by side on one
three-node cluster and one collection: BM25 queries at a fixed rate (weaviate-cli's
--qps, elysiactl's --rate), the same concurrency, consistency QUORUM, limit 10, the same
duration (weaviate-cli's fixed-QPS run is one phase of --max-duration seconds, no warm-up;
elysiactl's warm-up of 2 s comes before its measured duration), rounds interleaved. Prints each tool's achieved QPS and latency
percentiles as it reports them, and each client's own CPU time (user + system of the child
process: a load generator must not be the bottleneck). elysiactl runs once per --protocols
entry: grpc (its default, the search the official clients send) and graphql (GraphQL over
REST, what runs saved before gRPC measured). weaviate-cli runs twice: with its default query
terms ("action movie", "comedy film", ...), none of which occurs in the `load` dataset, so its
BM25 queries match nothing; and with a queries.txt (which it reads from its working folder) of
the first two words of 500 objects' payloads, the queries elysiactl draws. weaviate-cli
reports latency truncated to whole milliseconds.

usage: bench/benchmark_vs_weaviate_cli.py [--qps N] [--seconds S] [--concurrency C]
       [--rounds N] [--records N] [--protocols grpc,graphql] [--elysiactl PATH]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

from benchlib import weaviate_cli_config, ROOT, Cluster, machine, timed
from health_vs_weaviate_cli import CLI_VERSION, ensure_venv


def cli_result(text):
    """The main phase's figures as weaviate-cli prints them (with a fixed --qps its --json
    prints nothing): the last "Actual QPS", "P50 latency" … lines."""
    found = {}
    for line in text.splitlines():
        for key, label in (("qps", "Actual QPS:"), ("p50", "P50 latency:"), ("p90", "P90 latency:"),
                           ("p99", "P99 latency:")):
            if line.startswith(label):
                found[key] = float(line[len(label):].replace("ms", "").strip())
    if len(found) < 4:
        raise SystemExit(f"weaviate-cli printed no figures:\n{text[-1500:]}")
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qps", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--protocols", default="grpc,graphql")
    ap.add_argument("--elysiactl", default=os.path.join(ROOT, "target", "debug", "elysiactl"))
    a = ap.parse_args()
    cli, _ = ensure_venv()
    with Cluster(a.elysiactl) as c:
        cfg = weaviate_cli_config(c)
        subprocess.run([a.elysiactl, "test-data", "generate", "--pattern", "load", "--records", str(a.records),
                        "--seed", "1", "--vectors", "64", "--collection", "BenchLoad"], env=c.env, check=True,
                       stdout=subprocess.DEVNULL)
        ectl = [a.elysiactl, "benchmark", "baseline", "--save", "side-by-side", "--mix", "bm25=1", "--rate",
                str(a.qps), "--duration", f"{a.seconds}s", "--warmup", "2s", "--concurrency",
                str(a.concurrency), "--consistency", "quorum", "--collection", "BenchLoad", "--json"]
        wcli = [cli, "--config-file", cfg, "benchmark", "qps", "--collection", "BenchLoad", "--query-type", "bm25",
                "--qps", str(a.qps), "--max-duration", str(a.seconds),
                "--consistency-level", "QUORUM", "--concurrency", str(a.concurrency), "--limit", "10"]
        # The queries elysiactl draws: the first two words of an object's payload.
        export = subprocess.run([a.elysiactl, "test-data", "export", "BenchLoad", "--format", "ndjson"],
                                env=c.env, check=True, stdout=subprocess.PIPE).stdout.decode()
        terms = [" ".join(json.loads(l)["properties"]["payload"].split()[:2])
                 for l in export.splitlines()[:500] if l.strip()]
        own_terms = tempfile.mkdtemp(prefix="wcli-queries-")
        with open(os.path.join(own_terms, "queries.txt"), "w") as f:
            f.write("\n".join(terms) + "\n")
        protocols = a.protocols.split(",")
        rows = {f"elysiactl ({p})": [] for p in protocols}
        rows["weaviate-cli (its default terms)"] = []
        rows["weaviate-cli (the dataset's words)"] = []
        for _ in range(a.rounds):
            for p in protocols:
                _, cpu, out = timed(ectl + ["--protocol", p], c.env)
                s = json.loads(out)["summary"]
                op = s["operations"]["bm25"]
                if op["errors"]:
                    raise SystemExit(f"elysiactl ({p}): {op['errors']} failed queries: {s['first_errors']}")
                rows[f"elysiactl ({p})"].append((op["throughput"], op["p50_ms"], op["p90_ms"], op["p99_ms"], cpu))
            for label, cwd in (("its default terms", None), ("the dataset's words", own_terms)):
                _, cpu, out = timed(wcli, c.env, cwd=cwd)
                v = cli_result(out)
                rows[f"weaviate-cli ({label})"].append((v["qps"], v["p50"], v["p90"], v["p99"], cpu))
        print(f"# {machine(a.elysiactl)}; BM25 at {a.qps}/s for {a.seconds}s, concurrency {a.concurrency}, "
              f"QUORUM, {a.records} objects; median of {a.rounds} rounds; weaviate-cli {CLI_VERSION}")
        med = statistics.median
        print("| tool | achieved QPS | p50 | p90 | p99 | client CPU |")
        print("|---|---|---|---|---|---|")
        for tool, rs in rows.items():
            print(f"| {tool} | {med([r[0] for r in rs]):.1f} | {med([r[1] for r in rs]):.1f} ms | "
                  f"{med([r[2] for r in rs]):.1f} ms | {med([r[3] for r in rs]):.1f} ms | {med([r[4] for r in rs]):.2f} s |")


if __name__ == "__main__":
    main()
