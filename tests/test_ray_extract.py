"""Extraction as Ray tasks on a local 2-worker cluster: the store equals a single-process one
array for array, and a worker killed mid-task loses nothing (Ray retries the task)."""

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import shared

from wsvad.features import extract

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'wsvad[ray]'")

VIDEOS = ("Test001", "Test002", "Train001")


def _task_pids(name: str = "encode_and_write") -> list[int]:
    """Processes whose title Ray set to ``ray::<name>`` (a worker running that task)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(f"ray::{name}".encode()):
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


def _kill_one_worker(killed: list[int], stop: threading.Event) -> None:
    while not stop.is_set() and not killed:
        pids = _task_pids()
        if pids:
            time.sleep(1.0)                 # mid-task: decoding and encoding have started
            for pid in _task_pids()[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        time.sleep(0.2)


def _arrays(store: Path) -> dict[str, np.ndarray]:
    return {str(p.relative_to(store)): np.load(p, allow_pickle=False)
            for p in sorted(store.glob("*/*.npy"))}


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc to find "
                    "the Ray worker to kill")
def test_ray_store_equals_single_process_and_survives_a_killed_worker(tmp_path):
    src = shared("ucsd_ped2", "videos")
    (tmp_path / "in").mkdir()
    for name in VIDEOS:
        shutil.copy(src / f"{name}.mp4", tmp_path / "in")
    one = extract(tmp_path / "in", tmp_path / "single", progress=False, threads=1)
    assert sorted(one.written) == list(VIDEOS)

    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_one_worker, args=(killed, stop), daemon=True)
    killer.start()
    try:
        rep = extract(tmp_path / "in", tmp_path / "ray", progress=False, threads=1,
                      ray="local", workers=2)
    finally:
        stop.set()
        killer.join()
    assert killed, "no Ray worker was seen running a task (the kill did not happen)"
    assert sorted(rep.written) == list(VIDEOS) and not rep.failed
    assert rep.frames == one.frames == 180 + 180 + 120

    a, b = _arrays(tmp_path / "single"), _arrays(tmp_path / "ray")
    assert a.keys() == b.keys() and len(a) >= 2 * len(VIDEOS)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    ma = json.loads((tmp_path / "single" / "manifest.json").read_text())
    mb = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert ma == mb                         # same contract and per-video metadata
    assert not list((tmp_path / "ray").rglob("*.part*"))   # no half-written file left
