"""Generated benchmarks where the answer is known (learning tests, demo)."""

from wsvad.datasets.synthetic import BenchmarkConfig, make_benchmark, make_segments

__all__ = ["BenchmarkConfig", "make_benchmark", "make_segments"]
