"""``wsvad serve``: a detection service over HTTP (FastAPI; ``pip install wsvad[serve]``).

Endpoints:

* ``POST /detect`` — upload one video (multipart field ``file``) → frame scores, alerts (with
  where/what when the method says), localisation, timing. Uploads are bounded
  (``max_upload_mb``; 413 above it), must carry a video suffix (415 otherwise) and must decode
  (422 with the same message as the CLI). At most ``workers`` videos are scored at once and
  ``queue`` more wait; beyond that the answer is 503 with ``Retry-After`` — nothing is dropped
  silently.
* ``POST /streams`` ``{"url": ..., "window": 32, "realtime": false}`` — start watching a stream
  (rtsp/rtmp/http(s)/srt/udp; ``file://`` only with ``allow_file_urls``); ``GET /streams``,
  ``GET /streams/{id}`` (status and alerts so far), ``GET /streams/{id}/events`` (the alerts as
  server-sent events, ``event: alert``, then ``event: end``), ``DELETE /streams/{id}``.
* ``GET /health``, ``GET /metrics`` (Prometheus text format).

An exception inside one request is answered (4xx for bad input, 500 otherwise) and counted; the
service keeps serving.

Example:
    >>> from wsvad.serve.app import ServiceConfig, create_app      # doctest: +SKIP
    >>> app = create_app(ServiceConfig("runs/demo/rtfm"))           # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from typing import Annotated, Any

from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from wsvad.detect.detector import Detector
from wsvad.detect.outputs import localization_dict
from wsvad.detect.where import describe_events
from wsvad.errors import DataError, WsvadError
from wsvad.serve.metrics import Metrics
from wsvad.serve.streams import StreamJob
from wsvad.video.decode import VIDEO_SUFFIXES

CHUNK = 1 << 20


@dataclass
class ServiceConfig:
    """What ``wsvad serve`` runs: the run, its engine, and the service's bounds."""

    run: str | Path
    workers: int = 1               # videos scored at once (one detector each)
    queue: int = 4                 # uploads waiting beyond those; more → 503
    max_upload_mb: float = 256.0
    max_streams: int = 4
    engine: str = "torch"
    threshold: str | float = "auto"
    allow_file_urls: bool = False  # file:// stream URLs read the server's disk: off by default


class StreamRequest(BaseModel):
    url: str
    window: int = Field(32, ge=1, le=1024)
    realtime: bool = False


def result_json(det: Detector, res) -> dict[str, Any]:
    """A :class:`DetectionResult` as the JSON ``POST /detect`` answers."""
    size = (res.width, res.height) if res.width else None
    events = describe_events(res.events, det.clip, res.localization, res.classes,
                             det.meta.get("class_names"), size)
    return {"video": res.name, "method": det.method, "engine": det.engine, "fps": res.fps,
            "frames": res.frames, "threshold": res.threshold, "events": events,
            "frame_scores": [round(float(s), 4) for s in res.frame_scores],
            "localization": localization_dict(res.localization, det.clip, size)
            if res.localization is not None else None,
            "timing": {"analysis_s": round(res.seconds, 3),
                       "realtime_factor": round(res.realtime_factor, 2)}}


def create_app(cfg: ServiceConfig) -> FastAPI:
    """The FastAPI application (detectors are loaded here, so a bad run fails at start)."""
    def load() -> Detector:
        return Detector.load(cfg.run, cfg.threshold, engine=cfg.engine)
    first = load()
    pool: Queue[Detector] = Queue()
    pool.put(first)
    for _ in range(cfg.workers - 1):
        pool.put(load())
    executor = ThreadPoolExecutor(cfg.workers, thread_name_prefix="wsvad-detect")
    metrics = Metrics()
    state = {"admitted": 0}
    streams: dict[str, StreamJob] = {}
    limit = int(cfg.max_upload_mb * 1024 * 1024)

    async def lifespan(app: FastAPI):
        yield
        for job in streams.values():
            job.stop()
        executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="wsvad", version="1", lifespan=lifespan,
                  description=f"weakly-supervised video anomaly detection with {first.method}")

    @app.middleware("http")
    async def count(request: Request, call_next):
        t0 = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:                    # noqa: BLE001 - one request, not the service
            response = JSONResponse({"detail": f"internal error: {exc}"}, status_code=500)
        metrics.request(request.url.path.split("/")[1] or "/", response.status_code,
                        time.perf_counter() - t0)
        return response

    def score(path: Path) -> dict[str, Any]:
        det = pool.get()
        try:
            res = det.score_video(path)
            metrics.scored(res.frames, res.seconds)
            return result_json(det, res)
        finally:
            pool.put(det)

    @app.post("/detect")
    async def detect(request: Request, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
        declared = int(request.headers.get("content-length") or 0)
        if declared > limit + CHUNK:
            raise HTTPException(413, f"upload of {declared} bytes is above the limit of "
                                f"{cfg.max_upload_mb:g} MB (serve --max-upload-mb)")
        suffix = Path(file.filename or "").suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise HTTPException(415, f"'{file.filename}' is not a video file: expected one of "
                                f"{', '.join(VIDEO_SUFFIXES)}")
        if state["admitted"] >= cfg.workers + cfg.queue:
            metrics.rejected()
            raise HTTPException(503, f"busy: {state['admitted']} videos in progress or queued "
                                "(serve --workers/--queue); retry later",
                                headers={"Retry-After": "5"})
        state["admitted"] += 1
        metrics.queue_depth(state["admitted"])
        try:
            with tempfile.TemporaryDirectory(prefix="wsvad-upload-") as tmp:
                path = Path(tmp) / f"{Path(file.filename).stem or 'upload'}{suffix}"
                size = 0
                with open(path, "wb") as fh:
                    while chunk := await file.read(CHUNK):
                        size += len(chunk)
                        if size > limit:
                            raise HTTPException(413, f"upload is above the limit of "
                                                f"{cfg.max_upload_mb:g} MB (serve "
                                                "--max-upload-mb)")
                        fh.write(chunk)
                if size == 0:
                    raise HTTPException(422, f"'{file.filename}' is empty")
                loop = asyncio.get_running_loop()
                try:
                    return await loop.run_in_executor(executor, score, path)
                except DataError as exc:        # the user's name, not the temporary path
                    raise HTTPException(422, str(exc).replace(str(path), file.filename)) \
                        from exc
                except WsvadError as exc:
                    raise HTTPException(400, str(exc).replace(str(path), file.filename)) \
                        from exc
        finally:
            state["admitted"] -= 1
            metrics.queue_depth(state["admitted"])

    @app.post("/streams", status_code=201)
    async def start_stream(req: StreamRequest) -> dict[str, Any]:
        scheme = req.url.split("://", 1)[0].lower() if "://" in req.url else ""
        allowed = {"rtsp", "rtsps", "rtmp", "http", "https", "srt", "udp", "tcp"}
        if cfg.allow_file_urls:
            allowed.add("file")
        if scheme not in allowed:
            raise HTTPException(422, f"stream URL scheme '{scheme or req.url}' is not accepted: "
                                f"use one of {', '.join(sorted(allowed))}")
        active = [j for j in streams.values() if j.status == "running"]
        if len(active) >= cfg.max_streams:
            raise HTTPException(503, f"{len(active)} streams are being watched (serve "
                                "--max-streams); stop one first", headers={"Retry-After": "30"})
        job = StreamJob(req.url, load, req.window, req.realtime, metrics)
        streams[job.id] = job
        job.start()
        return job.summary()

    @app.get("/streams")
    async def list_streams() -> list[dict[str, Any]]:
        return [j.summary() for j in streams.values()]

    def job_of(sid: str) -> StreamJob:
        if sid not in streams:
            raise HTTPException(404, f"no stream {sid}")
        return streams[sid]

    @app.get("/streams/{sid}")
    async def stream_status(sid: str) -> dict[str, Any]:
        return {**job_of(sid).summary(), "events": list(job_of(sid).events)}

    @app.delete("/streams/{sid}")
    async def stop_stream(sid: str) -> dict[str, Any]:
        job_of(sid).stop()
        return job_of(sid).summary()

    @app.get("/streams/{sid}/events")
    async def stream_events(sid: str) -> StreamingResponse:
        job = job_of(sid)

        async def feed():
            sent = 0
            while True:
                while sent < len(job.events):
                    yield f"event: alert\ndata: {json.dumps(job.events[sent])}\n\n"
                    sent += 1
                if job.status != "running" and sent >= len(job.events):
                    yield f"event: end\ndata: {json.dumps(job.summary())}\n\n"
                    return
                yield ": waiting\n\n"
                await asyncio.sleep(0.25)
        return StreamingResponse(feed(), media_type="text/event-stream")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "run": str(first.run), "method": first.method,
                "engine": first.engine, "workers": cfg.workers, "queue": cfg.queue,
                "in_progress_or_queued": state["admitted"],
                "streams": sum(j.status == "running" for j in streams.values())}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> str:
        return metrics.render(streams=sum(j.status == "running" for j in streams.values()))

    return app
