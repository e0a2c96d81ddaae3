"""Alert events (hysteresis, minimum duration) and the calibrated threshold, by hand."""

import numpy as np
import pytest

from wsvad.detect.events import EventTracker, Hysteresis, find_events
from wsvad.errors import WsvadError
from wsvad.evaluation.threshold import calibrate, resolve


def test_hysteresis_keeps_one_event_through_a_dip():
    # high 0.5, low 0.4: the dip to 0.45 does not close the event; 0.3 does (at frame 5)
    s = [0.1, 0.6, 0.45, 0.8, 0.42, 0.3, 0.7, 0.2]
    ev = find_events(s, fps=2, rule=Hysteresis(0.5, 0.2, min_seconds=0))
    assert [(e.start_frame, e.end_frame, e.peak_frame, e.peak_score) for e in ev] == \
        [(1, 5, 3, 0.8), (6, 7, 6, 0.7)]
    assert ev[0].to_dict()["start"] == 0.5 and ev[0].to_dict()["duration"] == 2.0


def test_minimum_duration_drops_short_events():
    s = [0, 1, 0, 0, 1, 1, 1, 0]
    ev = find_events(s, fps=10, rule=Hysteresis(0.5, 0.2, min_seconds=0.25))
    assert [(e.start_frame, e.end_frame) for e in ev] == [(4, 7)]


def test_open_event_is_closed_at_the_end():
    ev = find_events([0, 0, 0.9, 0.95], fps=1, rule=Hysteresis(0.5, min_seconds=0))
    assert [(e.start_frame, e.end_frame, e.peak_frame) for e in ev] == [(2, 4, 3)]


def test_tracker_reports_events_when_they_close():
    t = EventTracker(Hysteresis(0.5, 0.0, 0), fps=1)
    assert t.update(0, 0.9) == [] and t.active
    closed = t.update(1, 0.1)
    assert [(e.start_frame, e.end_frame) for e in closed] == [(0, 1)] and not t.active
    assert t.finish() == []


def test_calibrate_is_a_quantile_of_normal_frames():
    rec = calibrate([np.arange(50) / 100, np.arange(50, 101) / 100], quantile=0.99)
    assert rec["value"] == pytest.approx(0.99) and rec["normal_videos"] == 2
    assert rec["frames"] == 101
    assert calibrate([])["value"] is None
    # abnormal validation videos peak at 0.9 and 0.7 (median 0.8): τ halfway from q to 0.8
    rec = calibrate([np.zeros(100)], 0.99, [np.array([0.1, 0.9]), np.array([0.7, 0.2])])
    assert rec["value"] == pytest.approx(0.4) and rec["abnormal_videos"] == 2
    # never below the normal quantile
    assert calibrate([np.full(10, 0.9)], 0.99, [np.array([0.5])])["value"] == pytest.approx(0.9)


def test_resolve_threshold():
    assert resolve("auto", {"threshold": {"value": 0.25, "quantile": 0.99,
                                          "normal_videos": 3}}, "r")[0] == 0.25
    assert resolve(0.6, {}, "r") == (0.6, "given")
    with pytest.raises(WsvadError, match="no calibrated threshold"):
        resolve("auto", {}, "runs/x")
    with pytest.raises(WsvadError, match="auto' or a number"):
        resolve("high", {}, "r")
