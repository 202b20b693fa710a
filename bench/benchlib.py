"""Shared by the benchmarks: a three-node cluster of its own (process runtime,
Elysia off) in a temporary home on free ports, started and stopped through
elysiactl, and a description of the machine for the results. The temporary
home sees the installed embedding model (`elysiactl install model`) through
a symbolic link."""
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.environ.get("XDG_DATA_HOME", os.path.expanduser("~/.local/share")), "elysiactl")
WEAVIATE = os.path.join(DATA, "bin", "weaviate-server-1.38.11")


def free_base(span):
    # Below 32768: ports in Linux's ephemeral range can be taken by outgoing
    # connections between this check and the node's bind.
    for base in range(23000, 32700, 100):
        if all(_free(p) for p in range(base, base + span)):
            return base
    raise SystemExit("no block of free ports below 32700")


def _free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def machine(ectl):
    build = "release" if "/release/" in ectl else "debug" if "/debug/" in ectl else f"({ectl})"
    return (f"{time.strftime('%Y-%m-%d')}, {platform.node()}: {os.cpu_count()} cores, "
            f"{platform.platform()}; 3-node Weaviate 1.38.11 (process runtime); elysiactl {build} build")


def link_models(data_home):
    """Lets an elysiactl with XDG_DATA_HOME=data_home use the installed models."""
    models = os.path.join(DATA, "models")
    if os.path.isdir(models):
        os.makedirs(os.path.join(data_home, "elysiactl"), exist_ok=True)
        os.symlink(models, os.path.join(data_home, "elysiactl", "models"))


class Cluster:
    """`with Cluster(ectl) as c:` starts three nodes and stops them (and removes
    the temporary home) whatever happens inside."""

    def __init__(self, ectl, extra_config=""):
        self.ectl = ectl
        self.home = tempfile.mkdtemp(prefix="elysiactl-bench-")
        base = free_base(40)
        self.rest, self.grpc = base, base + 5
        cfg_dir = os.path.join(self.home, "config", "elysiactl")
        os.makedirs(cfg_dir)
        with open(os.path.join(cfg_dir, "config.toml"), "w") as f:
            f.write(f'[weaviate]\nruntime = "process"\ncluster_name = "bench"\nrest_port = {self.rest}\n'
                    f'grpc_port = {self.grpc}\ngossip_port = {base + 10}\nraft_port = {base + 16}\n'
                    f'metrics_port = {base + 30}\nbinary = "{WEAVIATE}"\n[elysia]\nenabled = false\n{extra_config}')
        link_models(os.path.join(self.home, "data"))
        self.env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(self.home, "config"),
                        XDG_DATA_HOME=os.path.join(self.home, "data"),
                        XDG_STATE_HOME=os.path.join(self.home, "state"))

    def run(self, *args, **kw):
        return subprocess.run([self.ectl, *args], env=self.env, **kw)

    def __enter__(self):
        try:
            self.run("start", check=True, stdout=subprocess.DEVNULL)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_):
        self.run("stop", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.home, ignore_errors=True)


def timed(cmd, env, cwd=None):
    """Run a command (in `cwd`); (wall seconds, its CPU seconds: user + system, stdout). A
    failure stops the benchmark with the command's output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({r.returncode}): {r.stderr.decode()[-800:]}\n{r.stdout.decode()[-800:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r.stdout.decode()


def weaviate_cli_config(c):
    """A weaviate-cli config file pointing at cluster `c`; its path."""
    cfg = os.path.join(c.home, "weaviate-cli.json")
    with open(cfg, "w") as f:
        json.dump({"host": "localhost", "http_port": str(c.rest), "grpc_port": str(c.grpc)}, f)
    return cfg

