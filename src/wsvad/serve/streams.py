"""A watched stream of the service: a thread running :meth:`Detector.stream` on its own
detector (stream encoders keep state), collecting alerts as they close."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from wsvad.detect.detector import Detector
from wsvad.serve.metrics import Metrics


class StreamJob:
    """One stream: ``status`` is running → finished | stopped | failed (``error`` says why)."""

    def __init__(self, url: str, load: Callable[[], Detector], window: int, realtime: bool,
                 metrics: Metrics):
        self.id, self.url, self.window, self.realtime = uuid.uuid4().hex[:12], url, window, \
            realtime
        self._load, self._metrics = load, metrics
        self.status, self.error, self.frames = "running", None, 0
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wsvad-stream-{self.id}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.status == "running":
            self.status = "stopped"

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "status": self.status, "frames": self.frames,
                "alerts": len(self.events), "error": self.error}

    def _run(self) -> None:
        try:
            det = self._load()
            for step in det.stream(self.url, self.window, self.realtime):
                self.frames += len(step.frames)
                self.events.extend(e.to_dict() for e in step.events)
                if step.error:
                    self.error = step.error
                if self._stop.is_set():
                    return
            self._metrics.scored(self.frames, 0.0)
            if self.status == "running":
                self.status = "failed" if self.error else "finished"
        except Exception as exc:              # noqa: BLE001 - reported on the job, not raised
            self.error, self.status = str(exc), "failed"
