"""The HTML report: self-contained, consistent with the run, renders in headless Chromium."""

import base64
import json
import re
import shutil
import subprocess

import pytest

from wsvad.report import write_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _browser() -> str:
    for b in BROWSERS:
        path = shutil.which(b)
        if path:
            return path
    pytest.skip("headless Chromium not installed (Debian: apt-get install chromium "
                "chromium-driver; `make test` installs it where it can)")


def render_in_chromium(html_path) -> tuple[str, list[str]]:
    """The DOM after scripts ran, and every console message the page produced."""
    proc = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--enable-logging=stderr", "--v=0", "--dump-dom",
                           html_path.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    return proc.stdout, console


@pytest.fixture(scope="module")
def report(scene_runs, tmp_path_factory):
    return write_report(scene_runs / "rtfm", out=tmp_path_factory.mktemp("rep") / "r.html")


def test_report_is_self_contained_and_matches_the_run(report, scene_runs):
    html = report.read_text()
    for section in ("Metrics", "ROC and precision", "Top detections", "Score timelines"):
        assert section in html
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html), "nothing fetched"
    imgs = re.findall(r'src="data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)"', html)
    assert len(imgs) >= 2 + 4, "ROC, PR and one timeline per test video"
    assert base64.b64decode(imgs[0][1])[:4] == b"\x89PNG"
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1))
    metrics = json.loads((scene_runs / "rtfm" / "metrics.json").read_text())
    assert data["metrics"]["frame_auc"] == pytest.approx(metrics["frame_auc"], abs=1e-9)
    rows = html.count("overlaps ground truth") + html.count("false alarm</span>")
    assert rows == data["detections"]
    if data["detections"]:
        assert "data:image/jpeg" in html, "detections carry thumbnails of their peak frame"


def test_report_renders_without_console_errors(report):
    dom, console = render_in_chromium(report)
    assert console == [], console
    assert 'data-ready="1"' in dom, "the page's script ran to the end"
    assert "Top detections" in dom


def test_console_errors_are_caught(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>notDefined();</script></body></html>")
    _, console = render_in_chromium(bad)
    assert any("notDefined" in ln for ln in console)


def test_report_shows_auc_and_pointing_per_class():
    from pathlib import Path

    from wsvad.report.collect import ReportData
    from wsvad.report.page import render
    rep = ReportData(run=Path("r"), meta={"method": "ssrl"}, threshold=0.5,
                     threshold_source="validation", data="spec.yaml",
                     metrics={"frame_auc": 0.9, "classwise_auc": {"fall": 0.75, "bag": 0.5},
                              "classwise_pointing": {"fall": 0.125}})
    html = render(rep)
    assert "<th>AUC</th><th>pointing</th>" in html
    assert "<tr><td>fall</td><td class=num>0.7500</td><td class=num>0.1250</td></tr>" in html
    assert "<tr><td>bag</td><td class=num>0.5000</td><td class=num>n/a</td></tr>" in html
    rep.metrics.pop("classwise_pointing")
    assert "pointing" not in render(rep)
