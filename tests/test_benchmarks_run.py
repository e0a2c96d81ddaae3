"""The benchmarks that build their own batches still run with today's method defaults (a new
default stream once broke them silently). Tiny sizes; no timing is asserted here."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script, args, key", [
    ("ssrl_throughput.py", ["--configs", "1:16:branch", "--steps", "1", "--dim", "64",
                            "--crops", "1"], "rows"),
    ("gig_step.py", ["--steps", "1", "--warmup", "0"], "cases"),
])
def test_benchmark_runs_with_todays_defaults(script, args, key, tmp_path):
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--out", str(tmp_path),
                    *args], check=True, cwd=ROOT, capture_output=True, timeout=300)
    result = json.loads((tmp_path / script.replace(".py", ".json")).read_text())
    rows = result[key] if isinstance(result[key], list) else list(result[key].values())
    assert rows and all(r["seconds_per_step"] > 0 for r in rows)
