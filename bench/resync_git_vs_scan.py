#!/usr/bin/env python3
"""Re-syncs of a git checkout: change detection from git against a walk of
every file (`--rescan`), in the same run on the same cluster.

The corpus is the crate sources of this project's Cargo.lock (as in
index_vs_python_client.py), copied into one git repository and committed, so
every machine here can rebuild it. After one first sync (embedder none), each
round times, for both ways: a no-op re-sync, and a re-sync after one file is
edited (not committed). Medians of the rounds are reported, with the files
each way looked at.

    python3 bench/resync_git_vs_scan.py [--crates N] [--rounds 5] [--ectl target/release/elysiactl]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Cluster, ROOT, machine  # noqa: E402
from index_vs_python_client import corpus, timed  # noqa: E402


def make_repo(dirs, dest):
    for d in dirs:
        shutil.copytree(d, os.path.join(dest, os.path.basename(d)), symlinks=True)
    git = ["git", "-C", dest, "-c", "user.name=bench", "-c", "user.email=bench@example.com",
           "-c", "commit.gpgsign=false"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "corpus"], check=True)
    files = subprocess.run(git + ["ls-files", "-z"], check=True, capture_output=True).stdout.count(b"\0")
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crates", type=int, default=0, help="the first N crates (default: all)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ectl", default=os.path.join(ROOT, "target", "release", "elysiactl"))
    a = ap.parse_args()
    dirs = corpus(a.crates)
    work = tempfile.mkdtemp(prefix="elysiactl-resync-")
    try:
        repo = os.path.join(work, "corpus")
        os.makedirs(repo)
        tracked = make_repo(dirs, repo)
        # One file to edit: the first Rust source git tracks.
        target = next(os.path.join(root, f) for root, _, fs in sorted(os.walk(repo))
                      if "/.git" not in root for f in sorted(fs) if f.endswith(".rs"))
        with Cluster(a.ectl, '[index]\ncollection = "ResyncBench"\nembedder = "none"\n') as c:
            sync = [a.ectl, "index", "sync", repo, "--json"]
            secs, rss, out, _ = timed(sync, c.env)
            first = json.loads(out)
            print(f"first sync: {secs:.1f} s, {first['files_indexed']} files, {first['chunks_uploaded']} chunks",
                  file=sys.stderr)
            # Straight after the import, while the nodes still flush and compact.
            after_import, _, out, _ = timed(sync, c.env)
            assert json.loads(out)["files_indexed"] == 0
            rows = {k: [] for k in ["noop_git", "noop_scan", "edit_git", "edit_scan"]}
            seen = {}
            for r in range(a.rounds):
                for mode, extra in [("git", []), ("scan", ["--rescan"])]:
                    secs, _, out, _ = timed(sync + extra, c.env)
                    v = json.loads(out)
                    assert v["files_indexed"] == 0, v
                    assert v["repositories"][0]["change_detection"] == mode, v
                    rows[f"noop_{mode}"].append(secs)
                    seen[f"noop_{mode}"] = v["files_seen"]
                    with open(target, "a") as f:
                        f.write(f"// edit {r} {mode}\n")
                    secs, _, out, _ = timed(sync + extra, c.env)
                    v = json.loads(out)
                    assert v["files_indexed"] == 1, v
                    rows[f"edit_{mode}"].append(secs)
                    seen[f"edit_{mode}"] = v["files_seen"]
        med = {k: statistics.median(v) for k, v in rows.items()}
        print(f"# {machine(a.ectl)}; corpus: {len(dirs)} crates in one git repository, {tracked} tracked files, "
              f"{first['files_seen']} indexable; embedder none; median of {a.rounds} rounds")
        print("| re-sync | change detection | median | files looked at |")
        print("|---|---|---|---|")
        for case, label in [("noop", "nothing changed"), ("edit", "one file edited, not committed")]:
            for mode, how in [("git", "git (diff + status)"), ("scan", "walk every file (--rescan)")]:
                k = f"{case}_{mode}"
                print(f"| {label} | {how} | {med[k] * 1000:.0f} ms | {seen[k]} |")
        print(f"no-op re-sync straight after the first sync ({first['seconds']:.0f} s, "
              f"{first['chunks_uploaded']} chunks), git: {after_import * 1000:.0f} ms")
        for case in ["noop", "edit"]:
            print(f"{case}: scan / git = {med[case + '_scan'] / med[case + '_git']:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
