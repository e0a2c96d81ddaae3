"""The detection service on loopback: uploads scored like the CLI, bad uploads answered with
4xx and the CLI's message, a full queue answered 503 and nothing lost, streams with
server-sent events, health and metrics."""

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service is an optional extra: pip install "
                    "'wsvad[serve]'")
httpx = pytest.importorskip("httpx", reason="the service tests need httpx")
uvicorn = pytest.importorskip("uvicorn", reason="the service needs uvicorn")

from wsvad.detect.detector import Detector  # noqa: E402
from wsvad.serve.app import ServiceConfig, create_app  # noqa: E402


class Server:
    """uvicorn in a thread on a free loopback port."""

    def __init__(self, cfg: ServiceConfig):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(create_app(cfg), host="127.0.0.1",
                                                    port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline, "the service did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def videos(scene_runs):
    return sorted((scene_runs / "scenes" / "videos").glob("*.mp4"))


def _upload(url: str, path, name: str | None = None, data: bytes | None = None):
    body = data if data is not None else path.read_bytes()
    return httpx.post(f"{url}/detect", files={"file": (name or path.name, body)}, timeout=300)


def test_detect_health_metrics_and_bad_uploads(scene_runs, videos, tmp_path):
    run = scene_runs / "rtfm"
    with Server(ServiceConfig(run, max_upload_mb=1.0)) as url:
        health = httpx.get(f"{url}/health").json()
        assert health["status"] == "ok" and health["method"] == "rtfm"
        r = _upload(url, videos[0])
        assert r.status_code == 200, r.text
        got = r.json()
        want = Detector.load(run).score_video(videos[0])
        assert got["frames"] == want.frames
        np.testing.assert_allclose(got["frame_scores"], want.frame_scores, atol=1e-4)
        assert len(got["events"]) == len(want.events)
        r = _upload(url, videos[0], name="notes.txt")
        assert r.status_code == 415 and "not a video file" in r.json()["detail"]
        r = _upload(url, videos[0], name="broken.mp4", data=b"\x00" * 5000)
        assert r.status_code == 422 and "broken.mp4" in r.json()["detail"]
        assert "wsvad-upload" not in r.json()["detail"]          # no server path leaks
        r = _upload(url, videos[0], name="empty.mp4", data=b"")
        assert r.status_code == 422
        r = _upload(url, videos[0], name="big.mp4", data=b"\x00" * (3 << 20))
        assert r.status_code == 413 and "max-upload-mb" in r.json()["detail"]
        assert httpx.get(f"{url}/health").json()["status"] == "ok"   # still serving
        text = httpx.get(f"{url}/metrics").text
        assert 'wsvad_requests_total{endpoint="detect",status="200"} 1' in text
        assert 'wsvad_requests_total{endpoint="detect",status="422"} 2' in text
        assert "wsvad_videos_scored_total 1" in text


def test_full_queue_answers_503_and_loses_nothing(scene_runs, videos):
    """1 worker + 1 waiting place, 4 uploads at once: every request is answered; the ones
    beyond the bound get 503 with Retry-After, the others their scores."""
    with Server(ServiceConfig(scene_runs / "mil", workers=1, queue=1)) as url:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda v: _upload(url, v), videos[:4]))
        codes = sorted(r.status_code for r in answers)
        assert len(answers) == 4 and set(codes) <= {200, 503}, codes
        assert codes.count(200) >= 2 and codes.count(503) >= 1, codes
        for r in answers:
            if r.status_code == 503:
                assert r.headers["retry-after"] and "busy" in r.json()["detail"]
            else:
                assert len(r.json()["frame_scores"]) == r.json()["frames"]
        assert httpx.get(f"{url}/health").json()["in_progress_or_queued"] == 0


def test_streams_push_alerts_as_server_sent_events(scene_runs, videos):
    with Server(ServiceConfig(scene_runs / "mil", allow_file_urls=True)) as url:
        r = httpx.post(f"{url}/streams", json={"url": "/etc/passwd"})
        assert r.status_code == 422 and "not accepted" in r.json()["detail"]
        abnormal = [v for v in videos if "abnormal" in v.name or "anom" in v.name] or videos
        job = httpx.post(f"{url}/streams", json={"url": abnormal[0].resolve().as_uri()})
        assert job.status_code == 201, job.text
        sid = job.json()["id"]
        kinds, alerts = [], []
        with httpx.stream("GET", f"{url}/streams/{sid}/events", timeout=120) as sse:
            kind = None
            for line in sse.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    kinds.append(kind)
                    if kind == "alert":
                        alerts.append(json.loads(line.removeprefix("data: ")))
                    if kind == "end":
                        break
        assert kinds[-1] == "end"
        status = httpx.get(f"{url}/streams/{sid}").json()
        assert status["status"] == "finished" and status["frames"] > 0
        assert status["events"] == alerts                        # pushed = retrievable
        assert httpx.get(f"{url}/streams/nope").status_code == 404
