#!/usr/bin/env python3
"""Throughput of `elysiactl test-data generate` against `weaviate-cli create data
--randomize`, side by side on one three-node cluster: the same number of objects with
random vectors of the same dimension, into a new collection at factor 3, consistency
QUORUM, each tool at its default batch size and concurrency. Each round makes a fresh
collection for each tool (interleaved), times the whole command (wall clock) and the
client's own CPU (user + system of the child process), then deletes both collections.

The objects differ in shape: weaviate-cli's random objects and elysiactl's `synthetic`
pattern; the JSON size of each is printed so the comparison can be judged.

usage: bench/testdata_vs_weaviate_cli.py [--objects N] [--dims D] [--rounds N] [--elysiactl PATH]
"""
import argparse
import json
import os
import statistics
import subprocess

from benchlib import weaviate_cli_config, ROOT, Cluster, machine, timed
from health_vs_weaviate_cli import CLI_VERSION, ensure_venv


def count(c, name):
    q = {"query": f"{{ Aggregate {{ {name} {{ meta {{ count }} }} }} }}"}
    out = subprocess.run(["curl", "-s", "-X", "POST", "-H", "Content-Type: application/json",
                          "-d", json.dumps(q), f"http://127.0.0.1:{c.rest}/v1/graphql"],
                         capture_output=True, check=True).stdout
    return json.loads(out)["data"]["Aggregate"][name][0]["meta"]["count"]


def mean_object_bytes(c, name):
    out = subprocess.run(["curl", "-s", f"http://127.0.0.1:{c.rest}/v1/objects?class={name}&limit=50"],
                         capture_output=True, check=True).stdout
    objs = json.loads(out)["objects"]
    return statistics.mean(len(json.dumps(o["properties"])) for o in objs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=5000)
    ap.add_argument("--dims", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--elysiactl", default=os.path.join(ROOT, "target", "debug", "elysiactl"))
    a = ap.parse_args()
    cli, _ = ensure_venv()
    with Cluster(a.elysiactl) as c:
        cfg = weaviate_cli_config(c)
        wcli = [cli, "--config-file", cfg]
        results = {"elysiactl": [], "weaviate-cli": []}
        sizes = {}
        for r in range(a.rounds):
            e_name, w_name = f"EctlBench{r}", f"WcliBench{r}"
            e = timed([a.elysiactl, "test-data", "generate", "--records", str(a.objects), "--vectors",
                       str(a.dims), "--seed", str(r), "--collection", e_name, "--replication-factor", "3",
                       "--json"], c.env)
            subprocess.run(wcli + ["create", "collection", "--collection", w_name, "--replication_factor",
                                   "3", "--vectorizer", "none"], check=True, capture_output=True)
            w = timed(wcli + ["create", "data", "--collection", w_name, "--limit", str(a.objects),
                              "--randomize", "--vector_dimensions", str(a.dims), "--consistency_level",
                              "quorum"], c.env)
            for tool, (wall, cpu, _), name in (("elysiactl", e, e_name), ("weaviate-cli", w, w_name)):
                n = count(c, name)
                if n != a.objects:
                    raise SystemExit(f"{tool} left {n} objects, not {a.objects}")
                sizes.setdefault(tool, mean_object_bytes(c, name))
                results[tool].append((wall, cpu))
            for name in (e_name, w_name):
                subprocess.run(wcli + ["delete", "collection", "--collection", name], check=True,
                               capture_output=True)
        print(f"# {machine(a.elysiactl)}; {a.objects} objects with {a.dims}-dim random vectors, factor 3, "
              f"QUORUM; median of {a.rounds} rounds; weaviate-cli {CLI_VERSION}")
        print("| tool | median wall | objects/s | client CPU | mean properties JSON |")
        print("|---|---|---|---|---|")
        med = {}
        for tool, runs in results.items():
            wall = statistics.median(x[0] for x in runs)
            cpu = statistics.median(x[1] for x in runs)
            med[tool] = (wall, cpu)
            print(f"| {tool} | {wall:.2f} s | {a.objects / wall:.0f} | {cpu:.2f} s | {sizes[tool]:.0f} B |")
        (ew, ec), (ww, wc) = med["elysiactl"], med["weaviate-cli"]
        print(f"\nelysiactl: {ww / ew:.2f}x the throughput of weaviate-cli, {wc / ec:.1f}x less client CPU")


if __name__ == "__main__":
    main()
