from pathlib import Path

import pytest

from wsvad.datasets import BenchmarkConfig, make_benchmark

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(*parts: str) -> Path:
    """A path in ../shared/data; the test is skipped with a reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not available: {p} (the shared data folder is absent)")
    return p


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory) -> Path:
    """A small generated benchmark (fast to train on)."""
    cfg = BenchmarkConfig(train_normal=16, train_abnormal=16, test_normal=8, test_abnormal=8,
                          dim=32, crops=2, min_snippets=20, max_snippets=40, seed=3)
    return make_benchmark(tmp_path_factory.mktemp("tiny"), cfg)
