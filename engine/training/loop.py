"""The shared training loop: steps, JSONL logs, resumable state, final safetensors + card, DDP.

A model's training entry builds its modules and optimisers and a ``step_fn(step) -> {name: float}``
that does one optimisation step; :class:`Trainer` runs it. State (module weights as safetensors,
optimiser states read back with ``torch.load(weights_only=True)``) is written atomically every
``checkpoint_every`` steps into ``out_dir/state/``, so a killed run resumes where it stopped. Logs
go to ``out_dir/log.jsonl`` (one JSON object per logged step).

Several GPUs: start the entry with ``torchrun --nproc_per_node N``; :func:`setup_distributed` joins
the process group (NCCL on CUDA, Gloo on CPU) and :meth:`Trainer.wrap` wraps modules in DDP. Only
rank 0 writes logs and state.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch
import torch.distributed as dist
from torch import nn

from engine.cancel import CancelToken
from engine.errors import CheckpointError
from engine.imageio import atomic_write_bytes

StepFn = Callable[[int], Mapping[str, float]]


@dataclass
class TrainConfig:
    """Loop settings.

    Args:
        out_dir: run folder (logs, resumable state, final checkpoint).
        steps: total optimisation steps.
        log_every: write a log line every this many steps (and at the last one).
        checkpoint_every: save resumable state every this many steps (and at the end).
        seed: torch seed (rank added under DDP).
    """

    out_dir: Path
    steps: int
    log_every: int = 10
    checkpoint_every: int = 100
    seed: int = 0


def setup_distributed() -> tuple[int, int]:
    """Join the torchrun process group if ``WORLD_SIZE > 1``; returns ``(rank, world_size)``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class Trainer:
    """Runs a step function with logging, resumable state and cancellation.

    Args:
        config: :class:`TrainConfig`.
        modules: named modules whose weights are saved and resumed.
        optimizers: named optimisers whose states are saved and resumed.
        step_fn: one optimisation step; returns scalar logs.
    """

    def __init__(self, config: TrainConfig, modules: Mapping[str, nn.Module],
                 optimizers: Mapping[str, torch.optim.Optimizer], step_fn: StepFn) -> None:
        self.config = config
        self.modules = dict(modules)
        self.optimizers = dict(optimizers)
        self.step_fn = step_fn
        self.rank, self.world = setup_distributed()
        self.out = Path(config.out_dir)
        self.state_dir = self.out / "state"
        if self.rank == 0:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config.seed + self.rank)

    @staticmethod
    def wrap(module: nn.Module) -> nn.Module:
        """``DistributedDataParallel(module)`` under torchrun, else ``module`` unchanged."""
        if dist.is_initialized() and dist.get_world_size() > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [torch.cuda.current_device()] if torch.cuda.is_available() else None
            return DistributedDataParallel(module, device_ids=ids)
        return module

    # -- state ------------------------------------------------------------------------------------
    @staticmethod
    def _plain(m: nn.Module) -> nn.Module:
        return getattr(m, "module", m)

    def save_state(self, step: int) -> None:
        """Write weights, optimiser states and ``state.json`` (atomic; rank 0 only)."""
        if self.rank != 0:
            return
        for name, m in self.modules.items():
            sd = {k: v.detach().cpu().contiguous().clone() for k, v in self._plain(m).state_dict().items()}
            atomic_write_bytes(self.state_dir / f"{name}.safetensors", safetensors.torch.save(sd))
        for name, opt in self.optimizers.items():
            buf = io.BytesIO()
            torch.save(opt.state_dict(), buf)
            atomic_write_bytes(self.state_dir / f"{name}.optim.pt", buf.getvalue())
        atomic_write_bytes(self.state_dir / "state.json", json.dumps({"step": step, "time": time.time()}).encode())

    def resume(self) -> int:
        """Load saved state if present; returns the step to continue from (0 when fresh)."""
        meta = self.state_dir / "state.json"
        if not meta.is_file():
            return 0
        try:
            step = int(json.loads(meta.read_text())["step"])
            for name, m in self.modules.items():
                sd = safetensors.torch.load_file(str(self.state_dir / f"{name}.safetensors"))
                self._plain(m).load_state_dict(sd, strict=True)
            for name, opt in self.optimizers.items():
                opt.load_state_dict(torch.load(self.state_dir / f"{name}.optim.pt", map_location="cpu", weights_only=True))
        except (OSError, KeyError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{self.state_dir}: cannot resume ({exc}); delete the folder to start over") from None
        return step

    # -- loop -------------------------------------------------------------------------------------
    def log(self, record: Mapping[str, object]) -> None:
        if self.rank == 0:
            with open(self.out / "log.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    def run(self, cancel: CancelToken | None = None) -> int:
        """Train until ``config.steps`` (resuming if possible); returns the last completed step.

        Cancellation saves state and returns early; running again resumes.
        """
        c = self.config
        step = self.resume()
        t0 = time.perf_counter()
        while step < c.steps:
            if cancel is not None and cancel.cancelled:
                break
            logs = self.step_fn(step)
            step += 1
            if step % c.log_every == 0 or step == c.steps:
                self.log({"step": step, "elapsed_s": round(time.perf_counter() - t0, 3),
                          **{k: round(float(v), 6) for k, v in logs.items()}})
            if step % c.checkpoint_every == 0:
                self.save_state(step)
        self.save_state(step)
        return step
