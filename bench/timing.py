"""Shared latency measurement for the bench sections."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


def latency(fn: Callable[[], Any], runs: int, warmup: bool = True) -> dict[str, float]:
    """Median and 90th-percentile wall time of ``fn()`` in milliseconds over ``runs`` calls.

    Args:
        fn: the work to time (called ``runs`` times, plus once before when ``warmup``).
        runs: timed calls (≥ 1).
        warmup: call ``fn`` once untimed first (caches, lazy model loads).
    """
    if runs < 1:
        raise ValueError(f"runs must be ≥ 1, got {runs}")
    if warmup:
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(float(np.median(times)), 2), "p90_ms": round(float(np.percentile(times, 90)), 2)}
