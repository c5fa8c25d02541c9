"""One place that chooses the torch device: CUDA → MPS → CPU, overridable.

Override with the ``MASQUERADE_DEVICE`` environment variable (``cpu``, ``cuda``, ``cuda:1``, ``mps``)
or the ``prefer`` argument. A requested device that is not available falls back to the CPU and the
returned :class:`DeviceChoice` says why, so the status bar can show it.

Torch is imported by the functions that need it, not by this module: the classical engines and the
batch workers import :data:`CLASSICAL_DEVICE` from here, and a key-point mask-wear worker should
not pay torch's start-up (~1.5 s of CPU per process) for a constant. :data:`CPU` is made on first use.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

_T = TypeVar("_T")

if TYPE_CHECKING:
    import torch

ENV_VAR = "MASQUERADE_DEVICE"

CLASSICAL_DEVICE = "cpu"
"""Where the classical (numpy / OpenCV) engines run, as ``EditResult.info["device"]`` names it."""


def __getattr__(name: str) -> torch.device:
    """``CPU``: the CPU as a torch device, the one name the rest of the engine uses for it (made
    on first use, so importing this module does not import torch)."""
    if name == "CPU":
        import torch

        return torch.device("cpu")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class DeviceChoice:
    """The device chosen and the reason, for logs and the status bar.

    Args:
        device: the torch device to use.
        reason: one short sentence, e.g. ``"cuda requested but not available; using cpu"``.
    """

    device: torch.device
    reason: str

    @property
    def label(self) -> str:
        """Short human name: ``"CPU"``, ``"CUDA 0 (NVIDIA H100)"``, ``"MPS"``."""
        import torch

        if self.device.type == "cuda":
            idx = self.device.index or 0
            try:
                return f"CUDA {idx} ({torch.cuda.get_device_name(idx)})"
            except Exception:  # pragma: no cover - depends on drivers
                return f"CUDA {idx}"
        return self.device.type.upper()


def _available(dev: torch.device) -> bool:
    import torch

    if dev.type == "cpu":
        return True
    if dev.type == "cuda":
        return torch.cuda.is_available() and (dev.index or 0) < torch.cuda.device_count()
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        return bool(mps is not None and mps.is_available())
    return False


def select_device(prefer: str | None = None) -> DeviceChoice:
    """Pick the device models run on.

    Args:
        prefer: ``"auto"``/``None`` (CUDA, then MPS, then CPU) or an explicit torch device string.
            When ``None`` the ``MASQUERADE_DEVICE`` environment variable is read first.

    Returns:
        A :class:`DeviceChoice`; never raises for an unavailable device (falls back to CPU).

    Example:
        >>> select_device("cpu").device
        device(type='cpu')
    """
    import torch

    req = prefer if prefer is not None else os.environ.get(ENV_VAR, "auto")
    req = (req or "auto").strip().lower()
    if req == "auto":
        for cand in ("cuda", "mps"):
            dev = torch.device(cand)
            if _available(dev):
                return DeviceChoice(dev, f"auto: {cand} available")
        return DeviceChoice(torch.device("cpu"), "auto: no GPU found; using cpu")
    try:
        dev = torch.device(req)
    except (RuntimeError, ValueError):
        return DeviceChoice(torch.device("cpu"), f"unknown device {req!r}; using cpu")
    if _available(dev):
        return DeviceChoice(dev, f"{req} requested")
    return DeviceChoice(torch.device("cpu"), f"{req} requested but not available; using cpu")


def module_device(module: torch.nn.Module) -> torch.device:
    """Device of a module's first parameter or buffer (CPU for a module with neither)."""
    import torch

    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")


DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
"""What ``--device`` accepts on the command line (``cuda:N`` is accepted too)."""


def parse_device(text: str | None) -> torch.device:
    """The device a command-line ``--device`` names; an explicit device that is missing is an error.

    Args:
        text: ``"auto"`` / ``None`` (:func:`select_device`, so ``MASQUERADE_DEVICE`` still applies),
            ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Returns:
        The torch device.

    Raises:
        ValueError: unknown name, or a device this machine does not have (one line, for the CLI).

    Example:
        >>> parse_device("cpu")
        device(type='cpu')
    """
    import torch

    req = (text or "auto").strip().lower()
    if req == "auto":
        return select_device(None).device
    base = req.split(":", 1)[0]
    if base not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {text!r}; use one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    try:
        dev = torch.device(req)
    except (RuntimeError, ValueError):
        raise ValueError(f"unknown device {text!r}; use one of {', '.join(DEVICE_CHOICES)} (or cuda:N)") from None
    if not _available(dev):
        raise ValueError(f"device {req} is not available on this machine (try --device auto)")
    return dev


def local_device(base: torch.device, local_rank: int) -> torch.device:
    """The device of one torchrun process: ``cuda:LOCAL_RANK`` when ``base`` is CUDA, else ``base``."""
    import torch

    if base.type == "cuda":
        return torch.device(base.type, local_rank)
    return base


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype of ``--amp`` on ``device``; ``None`` where AMP is off (the CPU).

    bfloat16 on CUDA devices that support it (Ampere and newer), float16 on older CUDA devices
    and on MPS (float16 needs a gradient scaler, :func:`needs_grad_scaler`).

    Example:
        >>> import torch
        >>> autocast_dtype(torch.device("cpu")) is None
        True
    """
    import torch

    if device.type == "cuda":
        with contextlib.suppress(Exception):  # pragma: no cover - depends on drivers
            if torch.cuda.is_bf16_supported():
                return torch.bfloat16
        return torch.float16
    if device.type == "mps":
        return torch.float16
    return None


def needs_grad_scaler(device: torch.device, amp: bool) -> bool:
    """Whether training with ``amp`` on ``device`` runs in float16 and so scales its losses."""
    import torch

    return amp and autocast_dtype(device) == torch.float16


def autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` for ``--amp`` on ``device``; a no-op context when ``amp`` is off or on the CPU."""
    import torch

    dtype = autocast_dtype(device) if amp else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def configure_backends(device: torch.device) -> None:
    """Per-device speed settings for training: ``cudnn.benchmark`` (fixed-size batches) and TF32 on CUDA."""
    import torch

    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def is_cuda(device: torch.device) -> bool:
    """Whether ``device`` is an NVIDIA GPU (NCCL, pinned memory, ``cudnn.benchmark``)."""
    return device.type == "cuda"


def collective_device(device: torch.device) -> torch.device:
    """Where tensors for ``torch.distributed`` collectives live: the GPU under NCCL, else the CPU (Gloo)."""
    import torch

    return device if is_cuda(device) else torch.device("cpu")


def pin_memory(device: torch.device) -> bool:
    """Whether host batches for ``device`` should be page-locked (CUDA only)."""
    return device.type == "cuda"


def module_device_name(module: Any) -> str:
    """The device a model's parameters live on, as a string (``"cpu"``, ``"cuda:0"``, ``"mps:0"``);
    :data:`CLASSICAL_DEVICE` for anything that is not a torch module (a classical engine); a
    model run without torch names its device in a ``device_name`` string attribute.
    """
    name = getattr(module, "device_name", None)
    if isinstance(name, str):
        return name
    import torch

    if isinstance(module, torch.nn.Module):
        return str(module_device(module))
    inner = getattr(module, "model", None)
    if isinstance(inner, torch.nn.Module):
        return str(module_device(inner))
    return CLASSICAL_DEVICE


INFERENCE_MAX_THREADS = 4
"""Most torch threads one learned inference step on the CPU uses (the studios' crops are small:
more threads gain little)."""


LOAD_WINDOW_S = 60.0
"""Time constant (seconds) of the 1-minute load average; also the longest window over which
:class:`OtherLoad` trusts the machine's CPU counters."""

LOAD_MIN_WINDOW_S = 0.5
"""Shortest window (seconds) of a new :class:`OtherLoad` reading of the CPU counters (they tick
every 10 ms; meanwhile the previous reading, or the load average, answers)."""


def _busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (``/proc/stat``: all but idle and
    I/O wait), or ``None`` where there is no such file."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
        ticks = [int(v) for v in fields[1:9]]
        return float(sum(ticks) - ticks[3] - ticks[4]) / float(os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def _load_average() -> float | None:
    """The 1-minute load average, or ``None`` where the system gives none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


class OtherLoad:
    """How many CPU cores' worth of work the *other* processes keep busy.

    The 1-minute load average counts the process that asks: one that has been analysing photos for
    the last minute (the app after a few edits, a bench) saw about one busy core of its own, took
    it for another program's, and ran its learned steps, YuNet and the face mesh on one thread on
    a 2-core machine where nothing else ran. So, where the machine's CPU counters can be read
    (``/proc/stat``), the reading is the machine's busy CPU time less this process's own
    (:func:`time.process_time`, all its threads) over the time since the previous reading (at
    least :data:`LOAD_MIN_WINDOW_S`); elsewhere, or when the previous reading is older than
    :data:`LOAD_WINDOW_S`, the load average less this process's own CPU rate averaged the way the
    load average is (exponential decay over :data:`LOAD_WINDOW_S`).

    Args:
        clock: wall clock (seconds; default :func:`time.monotonic`).
        cpu: this process's CPU time (seconds; default :func:`time.process_time`).
        busy: the machine's busy CPU seconds, or ``None`` (default :func:`_busy_cpu_seconds`).
        loadavg: the 1-minute load average, or ``None`` (default :func:`os.getloadavg`).

    Example:
        >>> t = {"wall": 0.0, "cpu": 0.0, "busy": 0.0}
        >>> other = OtherLoad(lambda: t["wall"], lambda: t["cpu"], lambda: t["busy"], lambda: 1.3)
        >>> t["wall"], t["cpu"], t["busy"] = 10.0, 10.0, 10.5    # this process kept one core busy
        >>> other()
        0.05
        >>> t["wall"] = 100.0                                 # a reading too old: the load average
        >>> round(other(), 3)                                 # less this process's averaged rate
        1.266
    """

    def __init__(self, clock: Callable[[], float] | None = None, cpu: Callable[[], float] | None = None,
                 busy: Callable[[], float | None] | None = None,
                 loadavg: Callable[[], float | None] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._cpu = cpu or time.process_time
        self._busy = busy or _busy_cpu_seconds
        self._loadavg = loadavg or _load_average
        self._start()

    def _start(self) -> None:
        """A new lock and a first window that starts now."""
        self._lock = threading.Lock()
        self._wall, self._used, self._machine = self._clock(), self._cpu(), self._busy()
        self._own = 0.0  # this process's CPU rate, averaged as the load average is
        self._last: float | None = None  # the last reading from the counters

    def __call__(self) -> float | None:
        """The estimate now (cores' worth, 0 or more), ``None`` when nothing can be read."""
        with self._lock:
            wall, used = self._clock(), self._cpu()
            dt = wall - self._wall
            if dt < LOAD_MIN_WINDOW_S:  # too short a window for the counters' 10 ms ticks: the
                # window stays open, the last reading (or the load average) answers meanwhile
                return self._last if self._last is not None else self._fallback()
            machine = self._busy()
            mine = max(0.0, used - self._used)
            keep = math.exp(-dt / LOAD_WINDOW_S)
            self._own = self._own * keep + mine / dt * (1.0 - keep)
            self._last = None
            if machine is not None and self._machine is not None and dt <= LOAD_WINDOW_S:
                self._last = round(max(0.0, machine - self._machine - mine) / dt, 6)
            self._wall, self._used, self._machine = wall, used, machine
            return self._last if self._last is not None else self._fallback()

    def _fallback(self) -> float | None:
        load = self._loadavg()
        return None if load is None else max(0.0, load - self._own)

    def after_fork(self) -> None:
        """In a forked child: a new lock (another thread of the parent may have held the old one),
        and the child's first window starts now (its CPU time starts from zero)."""
        self._start()


other_load = OtherLoad()
"""This process's :class:`OtherLoad` (its first window starts at the import of this module, or
at the fork that made the process)."""
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=other_load.after_fork)


def inference_threads(load: float | None = None, cores: int | None = None, current: int | None = None) -> int:
    """Torch threads for one learned inference step on the CPU: the cores the other processes
    leave free (:data:`other_load`: the load this process made itself is not counted against it),
    at least 1, at most :data:`INFERENCE_MAX_THREADS` and torch's own setting.

    On a loaded machine a second torch thread waits for a busy core and spins: a small crop then
    takes seconds instead of a tenth of one (measured with the face parser in ``bench.parser`` and
    the regenerate inpainter in ``bench.regenerate_learned``), so a busy machine gets one.

    Args:
        load: the other processes' load (default :data:`other_load`; where there is none, no
            limit but torch's and :data:`INFERENCE_MAX_THREADS`).
        cores: logical CPUs (default :func:`os.cpu_count`).
        current: torch's thread setting (default :func:`torch.get_num_threads`).

    Example:
        >>> inference_threads(load=7.0, cores=2, current=2)
        1
        >>> inference_threads(load=0.3, cores=2, current=2)
        2
        >>> inference_threads(load=2.0, cores=16, current=16)
        4
    """
    if current is None:
        import torch

        current = torch.get_num_threads()
    if load is None:
        load = other_load()
    n = min(current, INFERENCE_MAX_THREADS)
    if load is not None:
        free = int((cores if cores is not None else (os.cpu_count() or 1)) - load + 0.5)
        n = min(n, free)
    return max(1, n)


_THREADS_LOCK = threading.Lock()


class SideThread:
    """One worker thread for work that runs beside the caller's (YuNet beside MediaPipe, the face
    parser's encoder beside the geometric parser): made on first use, and made again in a forked
    process (the parent's thread does not run there).

    Args:
        name: the thread's name prefix.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0

    def submit(self, fn: Callable[..., _T], *args: Any) -> Future[_T]:
        """``fn(*args)`` on the thread.

        Raises:
            RuntimeError: the interpreter is shutting down (no new work is taken).
        """
        if self._pool is None or self._pid != os.getpid():
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
            self._pid = os.getpid()
        return self._pool.submit(fn, *args)

    def try_submit(self, fn: Callable[..., _T], *args: Any) -> Future[_T] | None:
        """:meth:`submit`, or ``None`` when the interpreter is shutting down and takes no new
        thread work (the caller then does the work itself)."""
        try:
            return self.submit(fn, *args)
        except RuntimeError:
            return None


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the setting (one block at a
    time). With torch's OpenMP build the count is the calling thread's own, but torch also keeps
    it as the default that a thread first using torch meanwhile starts with, so blocks on several
    threads take turns."""
    import torch

    with _THREADS_LOCK:
        before = torch.get_num_threads()
        if n != before:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if n != before:
                torch.set_num_threads(before)
