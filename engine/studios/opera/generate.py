"""Learned lianpu generation: the trained StyleGAN2 generator (checkpoint ``stylegan2_lianpu``).

:data:`GENERATOR` is its :class:`~engine.studios.base.LearnedBackend`: the first card of a
``stylegan2_generator`` in the checkpoint folders, used only when the card records a training run
(an untrained network is never returned), hash-verified, loaded on
:func:`~engine.device.select_device` and cached. :func:`load_lianpu_generator` returns the
:class:`LianpuGenerator` or ``(None, reason)``.

Sampling is seeded and reproducible: a seed's latent ``z`` is ``numpy.random.default_rng(seed)``'s
standard normal draw, the per-pixel noise is the generator's constant buffers, ``ψ`` is the
truncation toward the average style. :meth:`LianpuGenerator.mix` is StyleGAN style mixing (the
first ``crossover`` style inputs — coarse layout — from one seed, the rest — finer shapes and
colour — from the other); :meth:`LianpuGenerator.interpolate` walks the straight line between two
seeds' styles ``w``.

A generator trained ``--by-role`` (conditional on role type, :attr:`LianpuGenerator.classes` from
its card: the nine role types and ``traditional``) takes ``role=`` in every sampling method; without
it a seed's class is ``seed % len(classes)`` (so a seed strip shows every type in turn).

Example:
    >>> gen, why = load_lianpu_generator()                    # doctest: +SKIP
    >>> gen.generate(7, psi=0.7).shape                        # doctest: +SKIP
    (32, 32, 3)
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import LearnedBackendError
from engine.studios.base import LEARNED, LearnedBackend

MODEL_NAME = "stylegan2_generator"
"""Registry name in the generator's card (the shipped file is ``checkpoints/stylegan2_lianpu``)."""

DEMO_FID_RATIO = 10.0
"""A generator whose card FID is more than this many times the FID between two real sets (both
measured with the same extractor, recorded on the card) is flagged as demo quality. Set from the two
checkpoints whose samples were looked at (opera-domain extractor, 32²): colour blobs after 900 steps
scored 15× the real-set FID, recognisable lianpu after 8934 steps 6×."""

MIN_READABLE_SIDE = 64
"""Designs smaller than this (pixels) are flagged like demo quality, so the window does not show
them unless asked: at 32² a lianpu's eye patches, brows and forehead motif are a few pixels each —
the strip's thumbnails were blurs beside the crisp procedural designs."""


class LianpuGenerator:
    """A trained StyleGAN2 lianpu generator (numpy out).

    Latents are made on the device the generator's weights are on; images come back as numpy.

    Args:
        model: a :class:`~engine.models.stylegan2.Generator` (its weights are not copied or moved).
        card: the checkpoint card as a dict.
    """

    def __init__(self, model: Any, card: dict[str, Any]) -> None:
        from engine.device import module_device

        self.model = model.eval().requires_grad_(False)
        self.device = module_device(self.model)
        self.card = card
        self.resolution: int = int(model.img_resolution)
        self.num_layers: int = int(model.num_ws)
        """Number of style inputs; a :meth:`mix` crossover is valid in ``1 .. num_layers - 1``."""
        c_dim = int(getattr(model, "c_dim", 0))
        names = [str(c) for c in card.get("extra", {}).get("classes", [])]
        self.classes: tuple[str, ...] = tuple(names) if len(names) == c_dim else tuple(f"class {k}" for k in range(c_dim))
        """Class names of a conditional generator (empty: unconditional)."""

    def _c(self, seed: int, role: str | None) -> Any:
        """Class-index tensor ``[1]`` for a conditional generator (``None`` when unconditional).

        Raises:
            ValueError: a role on an unconditional generator, or a role it was not trained on.
        """
        import torch

        if not self.classes:
            if role is not None:
                raise ValueError("this generator is not conditioned on role type")
            return None
        if role is None:
            k = int(seed) % len(self.classes)
        elif role in self.classes:
            k = self.classes.index(role)
        else:
            raise ValueError(f"unknown role type {role!r}; this generator knows {', '.join(self.classes)}")
        return torch.tensor([k], dtype=torch.int64, device=self.device)

    @property
    def quality_warning(self) -> str | None:
        """Why the samples should not be taken for usable designs, or ``None``.

        A generator whose designs are smaller than :data:`MIN_READABLE_SIDE` is flagged (they cannot
        be read as designs, whatever their FID). Otherwise read from the card: the generator's FID
        against held-out real lianpu compared with the FID between two real sets
        (``extra.reference_real_sets``), both with the card's extractor. A card without both
        numbers cannot show the generator is usable, so it is flagged too.
        """
        if self.resolution < MIN_READABLE_SIDE:
            return (f"its designs are {self.resolution}² — too small to read (eye patches and brows a few "
                    f"pixels wide) beside the procedural designs; a generator of {MIN_READABLE_SIDE}² or more "
                    "is shown")
        fid = self.card.get("metrics", {}).get("fid")
        extra = self.card.get("extra", {})
        refs = extra.get("reference_real_sets", {}) or {}
        ref = next((float(v) for k, v in refs.items() if k.startswith("fid_heldout_vs_training")), None)
        if fid is None or ref is None or ref <= 0:
            return ("demo quality unknown: the card records no FID against a real-set reference, so "
                    "nothing shows the samples look like lianpu")
        if float(fid) > DEMO_FID_RATIO * ref:
            return (f"demo quality: FID {float(fid):.1f} vs {ref:.1f} between two real sets "
                    f"({extra.get('extractor', 'domain extractor')}) — the samples do not look like "
                    "lianpu yet; the procedural Generate button above makes usable designs")
        return None

    def _z(self, seed: int) -> Any:
        import torch

        if int(seed) < 0:
            raise ValueError(f"seed must be ≥ 0, got {seed}")
        z = np.random.default_rng(int(seed)).standard_normal(self.model.z_dim)
        return torch.from_numpy(z).float()[None].to(self.device)

    @staticmethod
    def _psi(psi: float) -> float:
        if not (0.0 <= float(psi) <= 1.5):
            raise ValueError(f"psi must be in [0, 1.5], got {psi}")
        return float(psi)

    def _image(self, x: Any) -> np.ndarray:
        from engine.models.stylegan2 import to_uint8

        return to_uint8(x)[0]

    def generate(self, seed: int, psi: float = 0.7, role: str | None = None) -> np.ndarray:
        """``uint8`` RGB ``[R, R, 3]`` for a seed (``psi`` = truncation, 1 = none; ``role``: the class
        of a conditional generator, default ``seed % len(classes)``)."""
        import torch

        with torch.inference_mode():
            return self._image(self.model(self._z(seed), psi=self._psi(psi), noise_mode="const",
                                          c=self._c(seed, role)))

    def mix(self, seed_a: int, seed_b: int, crossover: int, psi: float = 0.7, role: str | None = None) -> np.ndarray:
        """Style mixing: style inputs ``< crossover`` from ``seed_a``, the rest from ``seed_b`` (both of
        ``role``, default ``seed_a``'s class, when conditional).

        Raises:
            ValueError: ``crossover`` outside ``1 .. num_layers - 1``.
        """
        import torch

        if not 1 <= int(crossover) <= self.num_layers - 1:
            raise ValueError(f"crossover must be in 1..{self.num_layers - 1}, got {crossover}")
        with torch.inference_mode():
            return self._image(self.model.mix(self._z(seed_a), self._z(seed_b), int(crossover),
                                              psi=self._psi(psi), noise_mode="const", c=self._c(seed_a, role)))

    def interpolate(self, seed_a: int, seed_b: int, t: float, psi: float = 0.7, role: str | None = None) -> np.ndarray:
        """The image at ``t`` (0 = ``seed_a``, 1 = ``seed_b``) on the line between the two styles ``w``
        (of ``role``, default ``seed_a``'s class, when conditional)."""
        import torch

        if not 0.0 <= float(t) <= 1.0:
            raise ValueError(f"t must be in [0, 1], got {t}")
        p = self._psi(psi)
        with torch.inference_mode():
            c = self._c(seed_a, role)
            w = self.model.mapping(self._z(seed_a), p, c=c).lerp(self.model.mapping(self._z(seed_b), p, c=c), float(t))
            return self._image(self.model.synthesis(w[:, None].expand(-1, self.num_layers, -1), "const"))


def _load(path: Path, device: str) -> LianpuGenerator:
    """:class:`LianpuGenerator` of the checkpoint at ``path`` on ``device`` (hash-verified)."""
    from engine.weights.store import load_checkpoint

    model, card = load_checkpoint(path, device=device, verify_hash=True)
    return LianpuGenerator(model, asdict(card))


GENERATOR = LearnedBackend(
    MODEL_NAME,
    title="the StyleGAN2 lianpu generator",
    classical="the procedural lianpu",
    train_hint="masquerade train stylegan2",
    require_steps=True,
    load=_load,
)
"""The trained lianpu generator: card look-up (untrained cards refused), loading on the device, cache."""



def load_lianpu_generator(path: Path | None = None) -> tuple[LianpuGenerator | None, str]:
    """The trained lianpu generator, or ``None`` and the reason it is not available.

    Args:
        path: a card (``.json``) or weights file; default: the first ``stylegan2_generator`` card in
            the checkpoint folders (:func:`engine.weights.store.checkpoint_roots`).

    Returns:
        ``(generator, description)`` or ``(None, "not available: …")`` (no checkpoint, an untrained
        or foreign card, weights that fail to load or to match their hash). Cached per file, hash
        and device.
    """
    try:
        gen: LianpuGenerator = GENERATOR.load(GENERATOR.resolve(LEARNED, path))
    except LearnedBackendError:  # the card's problem, or the load failure the backend remembered
        return None, f"not available: {GENERATOR.status(path)[2]}"
    m = gen.card.get("metrics", {})
    extra = gen.card.get("extra", {})
    quality = f", FID {m['fid']:.1f} ({extra.get('extractor', '?')})" if "fid" in m else ""
    return gen, (f"StyleGAN2 {gen.resolution}² ({extra.get('aug', '?')} augmentation, "
                 f"{extra.get('steps')} steps{quality})")
