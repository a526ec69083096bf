"""scripts/sweep.py --backend ray --address against a real two-node Ray cluster on this machine (`ray start
--head` plus a second `ray start --address`, one CPU each): one node is killed mid-sweep; Ray runs its task again
on the other node, which resumes the run, and the sweep ends with no failure and the results of undisturbed runs.

The nodes run with their own HOME and temporary folder (a token in ~/.ray from another Ray instance would
otherwise be sent to this cluster) and in their own process groups, which the teardown kills (only those)."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import procs
from cli import ROOT, run_main

FLAGS = ["--nStart", "20", "--nEnd", "200"]  # 9 rounds trained to 0.99: seconds, still running when killed
ALGS = ["rand", "entropy"]
DETERMINISTIC = ["round", "n_labeled", "test_acc", "train_acc", "train_epochs", "restarts"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_node(env, *flags):
    """`ray start --block` with free agent ports, in a new process group."""
    ports = ["--metrics-export-port", free_port(), "--dashboard-agent-listen-port", free_port(),
             "--dashboard-agent-grpc-port", free_port(), "--runtime-env-agent-port", free_port()]
    ray = Path(sys.executable).with_name("ray")
    return subprocess.Popen([str(ray), "start", "--block", "--num-cpus", "1", "--disable-usage-stats",
                             *map(str, ports), *map(str, flags)], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def descendants(pid):
    """Every process below `pid` (Ray's workers run in their own sessions, outside the node's process group)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def kill_node(proc):
    """SIGKILL a node: its `ray start` process group and every process below it; wait until all are gone."""
    pids = [proc.pid, *descendants(proc.pid)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline:
        alive = [pid for pid in pids if procs.alive(pid)]
        if not alive:
            return
        time.sleep(0.2)
    raise AssertionError(f"processes {alive} of the node survived SIGKILL")


def wait_for_port(port, timeout=60):
    """Return once something accepts TCP connections on 127.0.0.1:`port` (the head's GCS is up)."""
    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.time() < deadline, f"nothing listens on port {port} after {timeout} s"
            time.sleep(0.1)


def count_nodes(env, address):
    """The cluster's nodes as a fresh driver counts them; 0 while it cannot tell (a driver that has not connected
    within 60 s, as on a loaded machine, is stopped and asked again)."""
    code = f"import ray; ray.init(address={address!r}, log_to_driver=False); print(len(ray.nodes()))"
    try:
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return 0
    return int(proc.stdout.split()[-1]) if proc.returncode == 0 and proc.stdout.split() else 0


def wait_for_nodes(env, address, n, timeout=240):
    """Return once the cluster at `address` has `n` nodes (asked every second)."""
    deadline = time.time() + timeout
    while count_nodes(env, address) < n:
        assert time.time() < deadline, f"the Ray cluster did not reach {n} node(s) within {timeout} s"
        time.sleep(1)


@pytest.fixture
def cluster(tmp_path, ray_alone):
    """(address, env, head, worker node) of a fresh two-node cluster; torn down whatever happens."""
    home, tmp = tmp_path / "home", Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # unix sockets: short path
    home.mkdir()
    env = dict(os.environ, HOME=str(home), RAY_TMPDIR=str(tmp), OMP_NUM_THREADS="1")
    port = free_port()
    address = f"127.0.0.1:{port}"
    nodes = [ray_node(env, "--head", "--port", port, "--include-dashboard=false", "--temp-dir", tmp,
                      "--ray-client-server-port", free_port())]
    try:
        wait_for_port(port)
        wait_for_nodes(env, address, 1)  # the head is up: the worker node can join it
        nodes.append(ray_node(env, "--address", address))
        wait_for_nodes(env, address, 2)
        yield address, env, nodes[0], nodes[1]
    finally:
        for node in reversed(nodes):
            kill_node(node)
        shutil.rmtree(tmp, ignore_errors=True)


def mid_run_on(node, folder):
    """True while a process of `node` holds `folder`'s run (the pid its lock file names) and has finished two
    rounds but not the run: killing the node now interrupts it (a run that already ended elsewhere would not)."""
    return (procs.lock_pid(folder) in descendants(node.pid) and procs.rows_written(folder) >= 2
            and not (folder / "summary.json").exists())


def caught_mid_run_on(node, folder):
    """mid_run_on, checked again with the run's process frozen (procs.freeze), which it then stays until the node is
    killed: a late poll on a loaded machine may otherwise kill the node after the run has ended. A run found past
    that moment is let go on (procs.resume_frozen) and False returned."""
    pid = procs.lock_pid(folder) if mid_run_on(node, folder) else None
    if pid is None:
        return False
    if procs.freeze(pid) and mid_run_on(node, folder):
        return True
    procs.resume_frozen(pid)
    return False


def outcome(folder):
    lines = [ln.split(",") for ln in (folder / "rounds.csv").read_text().splitlines()]
    keep = [lines[0].index(c) for c in DETERMINISTIC]
    return [[ln[i] for i in keep] for ln in lines], (folder / "queries.csv").read_text()


@pytest.mark.slow
def test_sweep_on_a_cluster_survives_a_lost_node(cluster, tmp_path):
    address, env, head, worker = cluster
    out = tmp_path / "out"
    sweep = [sys.executable, str(ROOT / "scripts" / "sweep.py"), "--backend", "ray", "--address", address,
             "--algs", ",".join(ALGS), "--seeds", "1", "--nQuery", "20", "--out", str(out), *FLAGS]
    proc = subprocess.Popen(sweep, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folders = [out / f"digits_mlp_{alg}_20_seed1" for alg in ALGS]
    deadline = time.time() + 300
    while not any(caught_mid_run_on(worker, f) for f in folders):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"no run was seen mid-way on the second node: {proc.communicate()}")
        time.sleep(0.05)
    kill_node(worker)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0 and "FAILED" not in stderr and "Traceback" not in stderr, stderr
    assert "2 runs: 2 ran, 0 skipped (finished before), 0 failed" in stdout
    assert any("resuming" in (out / "logs" / f"{f.name}.log").read_text() for f in folders)
    for alg, folder in zip(ALGS, folders):
        reference = tmp_path / "reference"
        assert run_main("--alg", alg, "--seed", "1", "--nQuery", "20", *FLAGS, "--out", reference).returncode == 0
        assert outcome(folder) == outcome(reference / folder.name)
        assert (folder / "summary.json").is_file()
