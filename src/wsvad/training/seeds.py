"""Several seeds of one method: one run each, and their mean ± std."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wsvad.data.spec import load_dataset
from wsvad.evaluation.metrics import HEADLINE, summarize
from wsvad.fileio import check_writable, write_json
from wsvad.training.distributed import is_main_process
from wsvad.training.trainer import train


def train_seeds(data: str | Path, method: str, out: str | Path, seeds: list[int],
                overrides: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Train one run per seed (``out/seed_<s>``, or ``out`` itself for one seed) and write
    ``out/summary.json`` (mean ± std over the seeds)."""
    out = check_writable(out)
    if len(seeds) == 1:
        res = train(data, method, out, overrides, seed=seeds[0], **kwargs)
        return {"runs": {seeds[0]: res.metrics}, "summary": summarize([res.metrics])}
    ds = load_dataset(data)
    runs = {s: train(ds, method, out / f"seed_{s}", overrides, seed=s, **kwargs).metrics
            for s in seeds}
    result = {"method": method, "seeds": seeds, "summary": summarize(list(runs.values())),
              "runs": {str(s): {k: m.get(k) for k in HEADLINE + ("best_iteration",)}
                       for s, m in runs.items()}}
    if is_main_process():
        write_json(out / "summary.json", result)
    return result
