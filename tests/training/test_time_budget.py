"""A training time budget on the CPU counts this process's CPU time, not the wall clock."""

from __future__ import annotations

import time

from engine.device import CPU
from engine.training.loop import Runtime


def test_cpu_budget_ignores_waiting_and_counts_work() -> None:
    rt = Runtime(device=CPU)
    assert rt.time_budget(None) is None
    assert rt.clock_name == "process CPU seconds"
    token = rt.time_budget(0.05)
    assert token is not None
    time.sleep(0.15)  # waiting (another job holding the cores) spends no budget
    assert not token.cancelled
    start = time.process_time()
    x = 0
    while time.process_time() - start < 0.1:  # work does
        x += 1
    assert token.cancelled
