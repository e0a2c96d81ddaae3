"""Process-wide numeric settings for CPU work, applied at every entry point that computes.

Denormal (subnormal) floats — values below ~1e-38 — are handled in microcode on x86 CPUs, tens
of times slower than normal floats. Weights decaying under an ℓ2 penalty and Adagrad's shrinking
steps produce them: MIL's training rate fell from ~15 to ~2 iterations/s over 800 iterations on
the Ped2 features until they were flushed to zero (``benchmarks/iteration_drift.py`` measures
it). Flushing changes nothing a detector can see (those values are 0 to 38 digits).
"""

from __future__ import annotations

import torch


def fast_cpu_math() -> None:
    """Flush denormals to zero (idempotent; a no-op where the CPU lacks the mode).

    Example:
        >>> fast_cpu_math()
    """
    torch.set_flush_denormal(True)
