"""One self-contained HTML page: inline CSS, images as data URIs, the numbers as an embedded JSON
block, and a few lines of script (sortable detections table). Nothing is fetched."""

from __future__ import annotations

import base64
import html
import json
import math
from datetime import datetime, timezone
from pathlib import Path

from wsvad.fileio import check_writable, write_text
from wsvad.report.collect import ReportData, collect
from wsvad.version import __version__

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232a;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}
h2{margin-top:32px;border-bottom:1px solid #dde;padding-bottom:4px}
.sub{color:#5a6572}
table{border-collapse:collapse;background:#fff;margin:8px 0}
td,th{padding:5px 10px;border-bottom:1px solid #e4e7eb;text-align:left;font-size:.92em}
th{background:#eef1f5;cursor:default}th.sort{cursor:pointer}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.figs{display:flex;flex-wrap:wrap;gap:12px}.figs img{background:#fff;border:1px solid #dde;
max-width:100%}
.tl img{width:100%;background:#fff;border:1px solid #dde;margin:4px 0}
.hit{color:#17813a;font-weight:600}.miss{color:#b3261e;font-weight:600}
img.thumb{width:200px;border-radius:3px}
.note{background:#fff8e1;border-left:4px solid #f0b429;padding:8px 12px}
"""

SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var table = document.getElementById('detections');
  var heads = table.querySelectorAll('th.sort');
  heads.forEach(function (th) {
    th.addEventListener('click', function () {
      var col = Number(th.dataset.col), body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var asc = th.dataset.asc !== '1';
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        var nx = Number(x), ny = Number(y);
        var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
      th.dataset.asc = asc ? '1' : '0';
    });
  });
  document.getElementById('n-detections').textContent = String(data.detections);
  document.body.setAttribute('data-ready', '1');
})();
"""

LABELS = {"frame_auc": "frame AUC (ROC)", "frame_ap": "frame AP (sklearn)",
          "frame_pr_auc_trapezoid": "frame PR-AUC (trapezoid)",
          "abnormal_only_auc": "AUC on abnormal videos only", "video_auc": "video AUC",
          "false_alarm_rate": "false-alarm rate at τ (normal videos' frames)",
          "test_videos": "test videos", "test_frames": "test frames"}


def _img(png: bytes, alt: str, mime: str = "image/png", cls: str = "") -> str:
    data = base64.b64encode(png).decode()
    c = f' class="{cls}"' if cls else ""
    return f'<img{c} alt="{html.escape(alt)}" src="data:{mime};base64,{data}">'


def _fmt(v) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.4f}"
    return html.escape(str(v))


def render(rep: ReportData) -> str:
    """The HTML text of a report."""
    m, meta = rep.metrics, rep.meta
    e = html.escape
    rows = "".join(f"<tr><td>{e(LABELS[k])}</td><td class=num>{_fmt(m[k])}</td></tr>"
                   for k in LABELS if k in m)
    cls, where = m.get("classwise_auc") or {}, m.get("classwise_pointing") or {}
    cls_rows = "".join(
        f"<tr><td>{e(str(k))}</td><td class=num>{_fmt(cls.get(k, float('nan')))}</td>"
        + (f"<td class=num>{_fmt(where.get(k, float('nan')))}</td>" if where else "")
        + "</tr>" for k in sorted(set(cls) | set(where)))
    contract = meta.get("contract", {})
    val = meta.get("validation") or {}
    det_rows = []
    has_what = any(d.what for d in rep.detections)
    what_head = "<th class=sort data-col=6>what</th>" if has_what else ""
    for d in rep.detections:
        thumb = _img(d.thumbnail, f"{d.video} at {d.peak_time:.1f} s", "image/jpeg", "thumb") \
            if d.thumbnail else "<span class=sub>no video</span>"
        verdict = '<span class="hit">overlaps ground truth</span>' if d.overlaps_gt else \
            '<span class="miss">false alarm</span>'
        det_rows.append(
            f"<tr><td>{thumb}</td><td data-v='{e(d.video)}'>{e(d.video)}</td>"
            f"<td class=num data-v='{d.start:.3f}'>{d.start:.2f}–{d.end:.2f} s</td>"
            f"<td class=num data-v='{d.peak_time:.3f}'>{d.peak_time:.2f} s</td>"
            f"<td class=num data-v='{d.peak_score:.6f}'>{d.peak_score:.3f}</td>"
            f"<td data-v='{int(d.overlaps_gt)}'>{verdict}</td>"
            + (f"<td data-v='{e(d.what or '')}'>{e(d.what or '–')}</td>" if has_what else "")
            + "</tr>")
    data = {"run": str(rep.run), "method": meta.get("method"), "data": rep.data,
            "threshold": rep.threshold, "detections": len(rep.detections),
            "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v)
                        for k, v in m.items() if k in LABELS}}
    figs = "".join(_img(rep.figures[k], k) for k in ("roc", "pr") if k in rep.figures)
    training = _img(rep.figures["training"], "training curves") if "training" in \
        rep.figures else ""
    timelines = "".join(_img(png, f"timeline {n}") for n, png in rep.timelines.items())
    more = "" if rep.videos_shown == rep.videos_total else \
        f"<p class=sub>{rep.videos_shown} of {rep.videos_total} test videos shown (abnormal " \
        "first, then the normal videos with the highest scores).</p>"
    failed = m.get("failed_videos") or {}
    failed_html = "" if not failed else (
        f"<p class=note><b>These metrics cover {m.get('test_videos')} of "
        f"{m.get('requested_videos')} test videos</b> — {len(failed)} could not be scored, so "
        "the numbers are not comparable with results on the full test set:<br>" +
        "<br>".join(f"{e(k)}: {e(v)}" for k, v in failed.items()) + "</p>")
    classwise = "" if not cls_rows else "<h3>AUC per class (class videos + all normal " \
        "videos)" + (" and pointing (where)" if where else "") + "</h3><table><tr><th>class" \
        "</th><th>AUC</th>" + ("<th>pointing</th>" if where else "") + "</tr>" + cls_rows + \
        "</table>"
    f1 = m.get("classwise_f1") or {}
    if f1:
        classwise += ("<h3>What: frame F1 per class at τ (MF1 " + _fmt(m.get("mf1")) + ")</h3>"
                      "<table><tr><th>class</th><th>F1</th></tr>" + "".join(
                          f"<tr><td>{e(str(k))}</td><td class=num>{_fmt(v)}</td></tr>"
                          for k, v in sorted(f1.items())) + "</table>")
    if "confusion" in rep.figures:
        classwise += _img(rep.figures["confusion"], "class confusion matrix")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    table_json = json.dumps(data).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wsvad report — {e(str(meta.get('method')))} on {e(rep.data)}</title>
<style>{CSS}</style></head>
<body><main>
<h1>wsvad report: {e(str(meta.get('method')))}</h1>
<p class=sub>run <code>{e(str(rep.run))}</code> · data <code>{e(rep.data)}</code> ·
features {e(str(contract.get('backbone')))} ({contract.get('dim')}-d,
{contract.get('crops')} crop(s))
· seed {meta.get('seed')} · checkpoint at iteration {meta.get('best_iteration')}
(validation video AUC {_fmt(val.get('val_auc_smoothed', float('nan')))}, running mean)
· wsvad {__version__} · {when}</p>
<p class=note>The test set was scored with the saved model; the checkpoint and the alert threshold
τ = {rep.threshold:.4f} ({e(rep.threshold_source)}) were chosen on held-out training videos
only.</p>
{failed_html}
<h2>Metrics</h2>
<table><tr><th>metric</th><th>value</th></tr>{rows}</table>
{classwise}
<h2>ROC and precision–recall (frames of all test videos)</h2>
<div class=figs>{figs}</div>
<h2>Top detections (<span id="n-detections">{len(rep.detections)}</span>)</h2>
<p class=sub>Alerts at τ with hysteresis, ranked by peak score; thumbnail = the peak frame
(with the method's heat map or boxes, when it localises).
Click a column to sort.</p>
<table id="detections"><thead><tr><th>peak frame</th><th class=sort data-col=1>video</th>
<th class=sort data-col=2>alert</th><th class=sort data-col=3>peak at</th>
<th class=sort data-col=4>peak score</th><th class=sort data-col=5>verdict</th>{what_head}
</tr></thead>
<tbody>{"".join(det_rows) or "<tr><td colspan=6>no alerts at τ</td></tr>"}</tbody></table>
<h2>Score timelines against ground truth</h2>{more}
<div class=tl>{timelines}</div>
{"<h2>Training</h2><div class=figs>" + training + "</div>" if training else ""}
<script type="application/json" id="report-data">{table_json}</script>
<script>{SCRIPT}</script>
</main></body></html>
"""


def write_report(run: str | Path, data: str | Path | None = None, out: str | Path | None = None,
                 videos: str | Path | None = None) -> Path:
    """Score the run's test split and write ``<run>/report.html`` (or ``out``).

    Example:
        >>> write_report("runs/demo/rtfm")                               # doctest: +SKIP
        PosixPath('runs/demo/rtfm/report.html')
    """
    if out is not None:
        check_writable(out, "file")
    rep = collect(run, data, videos)
    path = Path(out) if out else rep.run / "report.html"
    write_text(path, render(rep))
    return path
