"""The service's counters, rendered in the Prometheus text format for ``GET /metrics``."""

from __future__ import annotations

import threading
from collections import Counter


class Metrics:
    """Thread-safe counters: requests by endpoint and status, their total time, videos and
    frames scored, uploads rejected as busy, the admission queue's depth.

    Example:
        >>> m = Metrics(); m.request("detect", 200, 0.5); m.scored(180, 0.4)
        >>> print(m.render(streams=0).splitlines()[2])
        wsvad_requests_total{endpoint="detect",status="200"} 1
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.seconds: Counter[str] = Counter()
        self.videos = self.frames = self.busy = self.depth = 0
        self.analysis_s = 0.0

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[endpoint, status] += 1
            self.seconds[endpoint] += seconds

    def scored(self, frames: int, seconds: float) -> None:
        with self._lock:
            self.videos += 1
            self.frames += frames
            self.analysis_s += seconds

    def rejected(self) -> None:
        with self._lock:
            self.busy += 1

    def queue_depth(self, n: int) -> None:
        with self._lock:
            self.depth = n

    def render(self, streams: int) -> str:
        with self._lock:
            lines = ["# HELP wsvad_requests_total HTTP requests by endpoint and status",
                     "# TYPE wsvad_requests_total counter"]
            lines += [f'wsvad_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                      for (e, s), n in sorted(self.requests.items())]
            lines += ["# TYPE wsvad_request_seconds_total counter"]
            lines += [f'wsvad_request_seconds_total{{endpoint="{e}"}} {v:.6f}'
                      for e, v in sorted(self.seconds.items())]
            lines += ["# TYPE wsvad_videos_scored_total counter",
                      f"wsvad_videos_scored_total {self.videos}",
                      "# TYPE wsvad_frames_scored_total counter",
                      f"wsvad_frames_scored_total {self.frames}",
                      "# TYPE wsvad_analysis_seconds_total counter",
                      f"wsvad_analysis_seconds_total {self.analysis_s:.6f}",
                      "# TYPE wsvad_rejected_busy_total counter",
                      f"wsvad_rejected_busy_total {self.busy}",
                      "# TYPE wsvad_uploads_in_progress_or_queued gauge",
                      f"wsvad_uploads_in_progress_or_queued {self.depth}",
                      "# TYPE wsvad_streams_active gauge",
                      f"wsvad_streams_active {streams}"]
        return "\n".join(lines) + "\n"
