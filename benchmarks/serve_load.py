"""Load test of ``wsvad serve`` on loopback: N concurrent uploads of UCSD Ped2 videos.

Starts the service as a separate process (``wsvad serve --run RUN``), sends ``--requests``
uploads with ``--concurrency`` at a time (httpx, bounded in count and time), and writes JSON:
throughput (videos/s, frames/s), latency p50/p95 of the answered uploads, the server's peak
resident memory, and every request's fate — 200, 503 (refused as busy, with Retry-After) or lost
(no answer / another status), which must be 0.

    python benchmarks/serve_load.py --run RUN --out benchmarks/results \
        [--requests 16 --concurrency 4 --workers 1 --queue 4 --engine torch]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from wsvad.fileio import write_json

PED2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "ucsd_ped2" / "videos"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, type=Path)
    p.add_argument("--videos", type=Path, default=PED2)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--requests", type=int, default=16)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--queue", type=int, default=4)
    p.add_argument("--engine", default="torch")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds for the whole test")
    a = p.parse_args()
    videos = sorted(a.videos.glob("Test*.mp4"))[:a.requests] or sorted(a.videos.glob("*.mp4"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "wsvad", "serve", "--run", str(a.run),
                               "--port", str(port), "--workers", str(a.workers), "--queue",
                               str(a.queue), "--engine", a.engine],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        deadline = time.time() + a.timeout

        def one(i: int) -> tuple[int | None, float, int]:
            v = videos[i % len(videos)]
            t0 = time.perf_counter()
            try:
                r = httpx.post(f"{url}/detect", files={"file": (v.name, v.read_bytes())},
                               timeout=max(1.0, deadline - time.time()))
                frames = r.json().get("frames", 0) if r.status_code == 200 else 0
                return r.status_code, time.perf_counter() - t0, frames
            except httpx.HTTPError:
                return None, time.perf_counter() - t0, 0

        t0 = time.perf_counter()
        with ThreadPoolExecutor(a.concurrency) as pool:
            results = list(pool.map(one, range(a.requests)))
        wall = time.perf_counter() - t0
        rss = peak_rss_mb(server.pid)
        metrics = httpx.get(f"{url}/metrics").text
    finally:
        server.terminate()
        server.wait(30)
    ok = [r for r in results if r[0] == 200]
    lat = np.array([r[1] for r in ok]) if ok else np.zeros(1)
    row = {"run": str(a.run), "engine": a.engine, "requests": a.requests,
           "concurrency": a.concurrency, "workers": a.workers, "queue": a.queue,
           "answered_200": len(ok), "refused_503": sum(r[0] == 503 for r in results),
           "lost": sum(r[0] not in (200, 503) for r in results),
           "wall_s": round(wall, 2), "videos_per_s": round(len(ok) / wall, 3),
           "frames_per_s": round(sum(r[2] for r in ok) / wall, 1),
           "latency_p50_s": round(float(np.percentile(lat, 50)), 2),
           "latency_p95_s": round(float(np.percentile(lat, 95)), 2),
           "server_peak_rss_mb": round(rss, 1),
           "server_metrics": [ln for ln in metrics.splitlines() if not ln.startswith("#")]}
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"serve_load_{a.engine}_w{a.workers}_c{a.concurrency}_q{a.queue}.json"
    write_json(path, row)
    print({k: v for k, v in row.items() if k != "server_metrics"}, "→", path)


if __name__ == "__main__":
    main()
