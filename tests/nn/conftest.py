"""Fixtures of the nn operator batteries: every available device × two dtypes."""

from __future__ import annotations

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """Each device the battery runs on (CUDA only where present)."""
    return torch.device(request.param)


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    """float32 and float64."""
    return request.param
