"""Run one training entry under ``torchrun`` for tests/training/test_torchrun.py, recording what each rank did.

Usage (each rank runs this file): ``torchrun --nproc_per_node 2 tests/training/ddp_driver.py DUMP ENTRY ARGS...``

* ``ENTRY`` ``cli``: ``masquerade ARGS...`` through the real command line;
  ``opera-classifier``: :func:`engine.training.opera_classifier.train` only (its evaluation renders
  hundreds of designs: too slow for a test), with ``ARGS`` = ``RUN_DIR STEPS``;
  ``regen``: :func:`engine.training.regen.train` only (its data and evaluation need face analysis) on
  three drawn 32² faces at 16², with ``ARGS`` = ``RUN_DIR STEPS``.
* Every rank writes ``DUMP/rank{R}.safetensors`` (the trained modules' weights after the loop) and
  ``DUMP/rank{R}.json`` (the files this rank wrote through the training loop, the checkpoint store
  and the image writer; the step the loop resumed from).
* ``MASQ_TEST_CHECKPOINT_EVERY=K`` saves state every K steps; ``MASQ_TEST_KILL_AT=S`` makes rank 1
  kill itself with SIGKILL when it reaches step S (torchrun then ends the job).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import safetensors.torch


def main() -> int:
    dump, entry, rest = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    dump.mkdir(parents=True, exist_ok=True)
    rank = int(os.environ.get("RANK", "0"))
    writes: list[str] = []
    facts: dict[str, Any] = {"writes": writes}

    import engine.imageio
    import engine.training.loop as loop
    import engine.weights.store

    real_atomic = loop.atomic_write_bytes
    real_save_ckpt = engine.weights.store.save_checkpoint
    real_save_image = engine.imageio.save_image
    real_log = loop.Trainer.log
    real_init = loop.Trainer.__init__
    real_resume = loop.Trainer.resume
    real_run = loop.Trainer.run

    def atomic(path: Any, data: bytes) -> None:
        writes.append(str(path))
        real_atomic(path, data)

    def save_ckpt(module: Any, out: Any, *a: Any, **k: Any) -> Any:
        writes.append(f"checkpoint:{out}")
        return real_save_ckpt(module, out, *a, **k)

    def save_image(path: Any, *a: Any, **k: Any) -> Any:
        writes.append(str(path))
        return real_save_image(path, *a, **k)

    def log(self: loop.Trainer, record: Any) -> None:
        if self.rank == 0:
            writes.append(str(self.out / "log.jsonl"))
        real_log(self, record)

    kill_at = int(os.environ.get("MASQ_TEST_KILL_AT", "-1"))

    def init(self: loop.Trainer, *a: Any, **k: Any) -> None:
        real_init(self, *a, **k)
        every = os.environ.get("MASQ_TEST_CHECKPOINT_EVERY")
        if every:
            self.config.checkpoint_every = int(every)
        step_fn = self.step_fn

        def killing_step(step: int) -> Any:
            if self.rank == 1 and step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return step_fn(step)

        self.step_fn = killing_step

    def resume(self: loop.Trainer) -> int:
        step = real_resume(self)
        facts.setdefault("resumed_from", step)
        return step

    def run(self: loop.Trainer, *a: Any, **k: Any) -> int:
        done = real_run(self, *a, **k)
        weights = {f"{name}.{key}": v.detach().cpu().contiguous().clone()
                   for name, m in self.modules.items() for key, v in self._plain(m).state_dict().items()}
        safetensors.torch.save_file(weights, str(dump / f"rank{rank}.safetensors"))
        facts["done"] = done
        return done

    loop.atomic_write_bytes = atomic
    engine.weights.store.save_checkpoint = save_ckpt
    engine.imageio.save_image = save_image
    loop.Trainer.log = log
    loop.Trainer.__init__ = init
    loop.Trainer.resume = resume
    loop.Trainer.run = run

    if entry == "cli":
        from engine.cli import main as cli_main

        rc = cli_main(rest)
    elif entry == "regen":
        import numpy as np

        from engine.training.loop import Runtime
        from engine.training.regen import train as train_regen

        rt = Runtime.create("cpu", amp=True)
        labels = np.zeros((3, 32, 32), np.uint8)
        labels[:, 8:26, 6:26], labels[:, :8], labels[:, 20:24, 12:20] = 1, 17, 12  # skin, hair, upper lip
        images = np.random.default_rng(0).integers(0, 256, (19, 3)).astype(np.uint8)[labels]
        train_regen(images, labels, Path(rest[0]), steps=int(rest[1]), batch=2, side=16, width=8, style_dim=8,
                    seed=0, runtime=rt)
        rc = 0
    else:
        from engine.training.loop import Runtime
        from engine.training.opera_classifier import train

        rt = Runtime.create("cpu", amp=True)
        train(Path(rest[0]), steps=int(rest[1]), batch=4, input_size=32, pool=14, seed=0, runtime=rt)
        rc = 0
    (dump / f"rank{rank}.json").write_text(json.dumps(facts))
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
