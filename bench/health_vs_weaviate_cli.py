#!/usr/bin/env python3
"""Wall time of `elysiactl health`, `health --cluster` and `health --cluster --json`
against the official weaviate-cli's nearest equivalents (`get nodes`, `get shards`),
measured side by side on one healthy three-node cluster with 10 collections.

It starts its own cluster (process runtime, Elysia off) in a temporary home on
free ports, creates the collections with weaviate-client, runs each command
ROUNDS times in interleaved order after a warm-up, prints medians and ratios,
and stops the cluster. weaviate-cli is installed into a venv of its own
($XDG_DATA_HOME/elysiactl/bench-venv) the first time.

usage: bench/health_vs_weaviate_cli.py [--rounds N] [--elysiactl PATH]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

from benchlib import weaviate_cli_config, DATA, ROOT, Cluster, machine

VENV = os.path.join(DATA, "bench-venv")
CLI_VERSION = "3.4.2"


def ensure_venv():
    cli = os.path.join(VENV, "bin", "weaviate-cli")
    if not os.path.exists(cli):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q", f"weaviate-cli=={CLI_VERSION}"], check=True)
    return cli, os.path.join(VENV, "bin", "python")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--elysiactl", default=os.path.join(ROOT, "target", "debug", "elysiactl"))
    a = ap.parse_args()
    cli, py = ensure_venv()
    ectl = a.elysiactl
    with Cluster(ectl) as c:
        rest, grpc, env = c.rest, c.grpc, c.env
        cli_cfg = weaviate_cli_config(c)
        make = os.path.join(ROOT, "tests", "py", "make_collections.py")
        subprocess.run([py, make, "127.0.0.1", str(rest), str(grpc)] + [f"Bench{i}:3:100" for i in range(10)], check=True)
        commands = {
            "elysiactl health": [ectl, "health"],
            "elysiactl health --cluster": [ectl, "health", "--cluster"],
            "elysiactl health --cluster --json": [ectl, "health", "--cluster", "--json"],
            "weaviate-cli get nodes": [cli, "--config-file", cli_cfg, "get", "nodes"],
            "weaviate-cli get shards": [cli, "--config-file", cli_cfg, "get", "shards"],
        }
        times = {k: [] for k in commands}
        for round_ in range(a.rounds + 1):
            for name, cmd in commands.items():
                t0 = time.perf_counter()
                r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                dt = time.perf_counter() - t0
                if r.returncode != 0:
                    raise SystemExit(f"{name} failed ({r.returncode}): {r.stderr.decode()[-500:]}")
                if round_ > 0:  # round 0 warms caches
                    times[name].append(dt)
        med = {k: statistics.median(v) for k, v in times.items()}
        peer = med["weaviate-cli get nodes"]
        print(f"# {machine(ectl)}; 10 collections of 100 objects at factor 3; "
              f"median of {a.rounds} runs after a warm-up; weaviate-cli {CLI_VERSION}")
        print("| command | median | vs `weaviate-cli get nodes` |")
        print("|---|---|---|")
        for k, v in med.items():
            if k.startswith("weaviate-cli"):
                ratio = "peer" if v == peer else f"{v / peer:.2f}x its time"
            else:
                ratio = f"{peer / v:.0f}x faster"
            print(f"| `{k}` | {v * 1000:.0f} ms | {ratio} |")


if __name__ == "__main__":
    main()
