"""The shared training loop: steps, JSONL logs, resumable state, final safetensors + card, DDP.

A model's training entry builds its modules and optimisers and a ``step_fn(step) -> {name: float}``
that does one optimisation step; :class:`Trainer` runs it. State (module weights as safetensors,
optimiser states read back with ``torch.load(weights_only=True)``) is written atomically every
``checkpoint_every`` steps into ``out_dir/state/``, so a killed run resumes where it stopped. Logs
go to ``out_dir/log.jsonl`` (one JSON object per logged step).

Devices: an entry builds a :class:`Runtime` first (``--device auto|cpu|cuda|mps``, ``--amp``): it
puts the modules on the device, runs forward passes under autocast (bf16 where the device supports
it, else fp16 with one gradient scaler per optimiser; nothing on the CPU), builds pinned-memory
loaders and turns ``cudnn.benchmark`` on for CUDA.

Several GPUs: start the entry with ``torchrun --nproc_per_node N``; :func:`setup_distributed` joins
the process group (NCCL on CUDA, Gloo on CPU), each process takes ``cuda:LOCAL_RANK``,
:meth:`Trainer.wrap` / :meth:`Runtime.wrap` wrap modules in DDP (gradients all-reduced in
``backward``), loaders shard with a ``DistributedSampler`` and random batches come from a per-rank
generator. Logged metrics are averaged over ranks, a cancel or time limit is agreed by all ranks,
and only rank 0 writes logs, state and the final checkpoint; every rank resumes from the same state.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from engine.cancel import CancelToken
from engine.device import (
    CPU,
    autocast,
    autocast_dtype,
    collective_device,
    configure_backends,
    is_cuda,
    local_device,
    needs_grad_scaler,
    parse_device,
    pin_memory,
)
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


def setup_distributed(device: torch.device | None = None) -> tuple[int, int]:
    """Join the torchrun process group if ``WORLD_SIZE > 1``; returns ``(rank, world_size)``.

    Args:
        device: the device this run trains on: NCCL for CUDA, Gloo otherwise (``None``: NCCL when
            CUDA is available). Under CUDA the process takes ``cuda:LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        cuda = is_cuda(device) if device is not None else torch.cuda.is_available()
        dist.init_process_group("nccl" if cuda else "gloo")
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _distributed() -> bool:
    return dist.is_initialized() and dist.get_world_size() > 1


def wrap_module(module: nn.Module) -> nn.Module:
    """``DistributedDataParallel(module)`` under torchrun (on the module's own GPU), else ``module``."""
    if not _distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    dev = next((p.device for p in module.parameters()), CPU)
    ids = [dev.index if dev.index is not None else torch.cuda.current_device()] if is_cuda(dev) else None
    return DistributedDataParallel(module, device_ids=ids)


class InfiniteLoader:
    """Batches from a ``DataLoader`` for ever, one epoch after another (``set_epoch`` on a
    ``DistributedSampler``, so every rank sees its own shard, reshuffled each epoch)."""

    def __init__(self, loader: DataLoader[Any]) -> None:
        self.loader = loader
        self.epoch = 0
        self._it = iter(self._epoch())

    def _epoch(self) -> DataLoader[Any]:
        sampler = self.loader.sampler
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(self.epoch)
        return self.loader

    def next(self) -> Any:
        """The next batch (a new epoch starts when one runs out)."""
        try:
            return next(self._it)
        except StopIteration:
            self.epoch += 1
            self._it = iter(self._epoch())
            return next(self._it)


@dataclass
class Runtime:
    """Where and how one training process runs: device, mixed precision, its rank under torchrun.

    Build it with :meth:`create` before the modules, so they are made on the right device and
    every process of a torchrun job has joined the group.

    Args:
        device: the torch device of this process (``cuda:LOCAL_RANK`` under torchrun on GPUs).
        amp: whether forward passes run under autocast (always ``False`` on the CPU).
        rank: this process's rank (0 without torchrun).
        world: number of processes (1 without torchrun).
    """

    device: torch.device
    amp: bool = False
    rank: int = 0
    world: int = 1
    _scalers: dict[int, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, device: str | None = "auto", amp: bool = False) -> Runtime:
        """Parse ``--device``, join torchrun's group if any, set the device's speed settings.

        Args:
            device: ``auto`` (:func:`engine.device.select_device`), ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
            amp: ask for mixed precision; a no-op where the device has none (the CPU).

        Raises:
            ValueError: unknown or unavailable device (one line for the CLI).
        """
        base = parse_device(device)
        rank, world = setup_distributed(base)
        dev = local_device(base, int(os.environ.get("LOCAL_RANK", "0"))) if world > 1 else base
        configure_backends(dev)
        return cls(device=dev, amp=bool(amp) and autocast_dtype(dev) is not None, rank=rank, world=world)

    # -- facts ------------------------------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and prints results."""
        return self.rank == 0

    @property
    def precision(self) -> str:
        """``"fp32"``, ``"bf16"`` or ``"fp16"``: what the forward passes compute in (for cards and logs)."""
        dtype = autocast_dtype(self.device) if self.amp else None
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32") if dtype else "fp32"

    def describe(self) -> dict[str, object]:
        """Device, precision and process count, for a card's ``extra`` or a log line."""
        return {"device": self.device.type, "precision": self.precision, "processes": self.world}

    def clock(self) -> float:
        """The clock of a training time budget (``--time-limit``), in seconds: this process's CPU
        time on the CPU — a budget then means the same work on a quiet machine and on one shared
        with other jobs (with one torch thread it equals wall time on a quiet machine) — and wall
        time on accelerators, where the host CPU is not the measure."""
        return time.process_time() if self.device.type == CPU.type else time.perf_counter()

    @property
    def clock_name(self) -> str:
        """What :meth:`clock` measures, for cards: ``"process CPU seconds"`` or ``"wall seconds"``."""
        return "process CPU seconds" if self.device.type == CPU.type else "wall seconds"

    def time_budget(self, seconds: float | None) -> CancelToken | None:
        """A token that cancels training once ``seconds`` have passed on :meth:`clock` (``None``: no limit)."""
        if seconds is None:
            return None
        start = self.clock()
        return CancelToken(lambda: self.clock() - start > seconds)

    # -- building ---------------------------------------------------------------------------------
    def wrap(self, module: nn.Module) -> nn.Module:
        """Move ``module`` to the device and wrap it in DDP under torchrun (see :func:`wrap_module`).

        Keep the plain module for saving and evaluation; train through the returned one.
        """
        return wrap_module(module.to(self.device))

    def rng(self, seed: int) -> np.random.Generator:
        """A numpy generator for this rank's random batches: the same stream as before without
        torchrun (rank 0 uses ``seed``), a different one on every other rank."""
        return np.random.default_rng(seed if self.rank == 0 else [seed, self.rank])

    def loader(self, dataset: Dataset[Any], batch: int, *, seed: int = 0, workers: int | None = None,
               drop_last: bool = True) -> InfiniteLoader:
        """Shuffled batches for ever: a ``DistributedSampler`` under torchrun, pinned memory and
        worker processes on accelerators (``workers=None``: 4 there, 0 on the CPU).

        Args:
            dataset: a map-style dataset.
            batch: batch size of this process.
            seed: shuffling seed (the same on every rank; the sampler splits the permutation).
            workers: loader processes.
            drop_last: drop the last incomplete batch of an epoch (fixed shapes for cudnn.benchmark).
        """
        n_workers = (4 if self.device.type != CPU.type else 0) if workers is None else max(0, workers)
        sampler: DistributedSampler[Any] | None = None
        if self.world > 1:
            sampler = DistributedSampler(dataset, num_replicas=self.world, rank=self.rank, shuffle=True, seed=seed,
                                         drop_last=drop_last)
        return InfiniteLoader(DataLoader(dataset, batch_size=batch, sampler=sampler, shuffle=sampler is None,
                                         generator=torch.Generator().manual_seed(seed), num_workers=n_workers,
                                         pin_memory=pin_memory(self.device), drop_last=drop_last,
                                         persistent_workers=n_workers > 0))

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` on the device (non-blocking from pinned memory)."""
        return tensor.to(self.device, non_blocking=True)

    # -- one step ---------------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The forward-pass context: autocast under ``--amp``, nothing otherwise."""
        return autocast(self.device, self.amp)

    def _scaler(self, opt: torch.optim.Optimizer) -> Any:
        if not needs_grad_scaler(self.device, self.amp):
            return None
        if id(opt) not in self._scalers:
            self._scalers[id(opt)] = torch.amp.GradScaler(self.device.type)
        return self._scalers[id(opt)]

    def backward(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        """``loss.backward()``, scaled by ``opt``'s gradient scaler when training in float16."""
        scaler = self._scaler(opt)
        (scaler.scale(loss) if scaler is not None else loss).backward()

    def step(self, opt: torch.optim.Optimizer) -> None:
        """``opt.step()`` (through its scaler in float16: skipped on inf/nan, scale updated)."""
        scaler = self._scaler(opt)
        if scaler is None:
            opt.step()
            return
        scaler.step(opt)
        scaler.update()

    # -- across ranks -----------------------------------------------------------------------------
    def mean(self, values: Mapping[str, float]) -> dict[str, float]:
        """``values`` averaged over all ranks (unchanged without torchrun)."""
        out = {k: float(v) for k, v in values.items()}
        if self.world <= 1 or not _distributed() or not out:
            return out
        keys = sorted(out)
        t = torch.tensor([out[k] for k in keys], dtype=torch.float64,
                         device=collective_device(self.device))
        dist.all_reduce(t)
        return {k: float(v) / self.world for k, v in zip(keys, t.tolist(), strict=True)}

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is true on any rank (every rank gets the same answer)."""
        if self.world <= 1 or not _distributed():
            return flag
        t = torch.tensor([1 if flag else 0], device=collective_device(self.device))
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's ``tensor`` (same shape on all ranks) concatenated along dim 0, in rank order."""
        if self.world <= 1 or not _distributed():
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, 0)

    def average_buffers(self, module: nn.Module) -> None:
        """Average ``module``'s floating-point buffers (running means) over all ranks, in place."""
        if self.world <= 1 or not _distributed():
            return
        with torch.no_grad():
            for b in module.buffers():
                if b.is_floating_point():
                    dist.all_reduce(b)
                    b.div_(self.world)

    def barrier(self) -> None:
        """Wait for every rank (nothing without torchrun)."""
        if self.world > 1 and _distributed():
            dist.barrier()


class Trainer:
    """Runs a step function with logging, resumable state and cancellation.

    Args:
        config: :class:`TrainConfig`.
        modules: named modules whose weights are saved and resumed.
        optimizers: named optimisers whose states are saved and resumed.
        step_fn: one optimisation step; returns scalar logs.
        runtime: the run's :class:`Runtime` (device, AMP, ranks); ``None``: the modules' own device,
            joining torchrun's group if there is one.
    """

    def __init__(self, config: TrainConfig, modules: Mapping[str, nn.Module],
                 optimizers: Mapping[str, torch.optim.Optimizer], step_fn: StepFn,
                 runtime: Runtime | None = None) -> None:
        self.config = config
        self.modules = dict(modules)
        self.optimizers = dict(optimizers)
        self.step_fn = step_fn
        if runtime is None:
            first = next((m for m in self.modules.values()), None)
            dev = next((p.device for p in first.parameters()), CPU) if first is not None else CPU
            rank, world = setup_distributed(dev)
            runtime = Runtime(device=dev, rank=rank, world=world)
        self.runtime = runtime
        self.rank, self.world = runtime.rank, runtime.world
        self.out = Path(config.out_dir)
        self.state_dir = self.out / "state"
        if self.rank == 0:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config.seed + self.rank)

    @staticmethod
    def wrap(module: nn.Module) -> nn.Module:
        """``DistributedDataParallel(module)`` under torchrun, else ``module`` unchanged (see :func:`wrap_module`)."""
        return wrap_module(module)

    # -- state ------------------------------------------------------------------------------------
    @staticmethod
    def _plain(m: nn.Module) -> nn.Module:
        return getattr(m, "module", m)

    def save_state(self, step: int) -> None:
        """Write weights, optimiser states and ``state.json`` (atomic; rank 0 only; every rank waits
        until the state is written). Under torchrun the modules' running statistics (batch-norm
        means, ``w_avg``) are first averaged over the ranks, so every rank holds what is saved."""
        for m in self.modules.values():
            self.runtime.average_buffers(self._plain(m))
        if self.rank != 0:
            self.runtime.barrier()
            return
        for name, m in self.modules.items():
            sd = {k: v.detach().cpu().contiguous().clone() for k, v in self._plain(m).state_dict().items()}
            atomic_write_bytes(self.state_dir / f"{name}.safetensors", safetensors.torch.save(sd))
        for name, opt in self.optimizers.items():
            buf = io.BytesIO()
            torch.save(opt.state_dict(), buf)
            atomic_write_bytes(self.state_dir / f"{name}.optim.pt", buf.getvalue())
        atomic_write_bytes(self.state_dir / "state.json", json.dumps({"step": step, "time": time.time()}).encode())
        self.runtime.barrier()

    def resume(self) -> int:
        """Load saved state if present; returns the step to continue from (0 when fresh)."""
        meta = self.state_dir / "state.json"
        if not meta.is_file():
            return 0
        try:
            step = int(json.loads(meta.read_text())["step"])
            for name, m in self.modules.items():
                sd = safetensors.torch.load_file(str(self.state_dir / f"{name}.safetensors"),
                                                 device=str(self.runtime.device))
                self._plain(m).load_state_dict(sd, strict=True)
            for name, opt in self.optimizers.items():
                opt.load_state_dict(torch.load(self.state_dir / f"{name}.optim.pt", map_location=self.runtime.device,
                                                  weights_only=True))
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

        Cancellation saves state and returns early; running again resumes. Under torchrun the ranks
        stop together (at the first step any of them is cancelled) and log their averaged metrics.
        """
        c = self.config
        step = self.resume()
        t0 = time.perf_counter()
        while step < c.steps:
            if self.runtime.any(cancel is not None and cancel.cancelled):
                break
            logs = self.step_fn(step)
            step += 1
            if step % c.log_every == 0 or step == c.steps:
                mean = self.runtime.mean(logs)
                self.log({"step": step, "elapsed_s": round(time.perf_counter() - t0, 3),
                          **{k: round(v, 6) for k, v in mean.items()}})
            if step % c.checkpoint_every == 0:
                self.save_state(step)
        self.save_state(step)
        return step
