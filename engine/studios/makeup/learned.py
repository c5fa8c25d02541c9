"""Makeup studio, learned engine: the mask-controlled makeup GAN (:mod:`engine.models.makeup_gan`).

:data:`BACKEND` is the studio's one :class:`~engine.studios.base.LearnedBackend`: ``auto`` takes the
GAN only when its card's verdict says it measured better than the classical renderer
(``masquerade train makeup-gan`` writes the card, :mod:`engine.training.makeup`); a missing,
corrupt or refused checkpoint falls back to classical with the reason, an explicit ``neural``
request fails in one line. The loaded model comes wrapped in a :class:`MakeupGAN` with the style
names and crop side its card records.

The GAN paints an aligned square crop of each face (its card's ``input_size``), one pass per style
used; regions with different styles are painted in turn. The painted crop goes back with
:func:`engine.faces.align.paste_back` (delta mode) and is weighted by ``min(1, 2 · mask) ×
intensity`` of the classical engine's soft region masks, so every pixel outside the enabled regions
is returned bit-identical. It knows only the regions lips, eyeshadow, cheek and base and the styles
it was trained on (:meth:`MakeupGAN.support` says why an edit is outside that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.device import module_device, module_device_name
from engine.studios.base import LearnedBackend
from engine.studios.makeup.classical import CHANGE_THRESHOLD, FaceGeometry, region_mask
from engine.studios.makeup.params import MakeupParams, MakeupStyle
from engine.weights.card import ModelCard

GAN_MODEL = "makeup_gan_g"
"""Registry name of the makeup GAN's generator (what :data:`BACKEND` looks for)."""


@dataclass(frozen=True)
class MakeupGAN:
    """A makeup generator with what it needs to paint: its style names and its crop side.

    Args:
        model: a :class:`~engine.models.makeup_gan.MakeupGenerator` in eval mode, on any device.
        styles: style names in the order of its style one-hot.
        size: aligned crop side it works at (a multiple of ``2 ** model.n_down``).
    """

    model: Any
    styles: tuple[str, ...]
    size: int

    @classmethod
    def wrap(cls, model: Any, styles: Sequence[str], size: int) -> MakeupGAN:
        """Check that ``styles`` and ``size`` fit ``model``.

        Args:
            model: a :class:`~engine.models.makeup_gan.MakeupGenerator` (put in eval mode).
            styles: style names in the order of its style one-hot.
            size: aligned crop side.

        Returns:
            The wrapper.

        Raises:
            ValueError: the style list does not match the model, or a bad size.
        """
        if len(styles) != model.num_styles:
            raise ValueError(f"makeup GAN has {model.num_styles} styles but {len(styles)} style names were given")
        if size < 8 or size % (2 ** model.n_down):
            raise ValueError(f"makeup GAN crop size must be a multiple of {2 ** model.n_down}, got {size}")
        return cls(model.eval(), tuple(str(s) for s in styles), int(size))

    @property
    def device(self) -> str:
        """The device the generator runs on (what ``EditResult.info["device"]`` says)."""
        return module_device_name(self.model)

    def support(self, params: MakeupParams) -> str | None:
        """Whether the GAN can render ``params``.

        Args:
            params: the edit's parameters.

        Returns:
            ``None`` when it can, else why not (one clause).
        """
        from engine.models.makeup_gan import GAN_REGIONS

        regions = params.enabled()
        bad = [r for r in regions if r not in GAN_REGIONS]
        if bad:
            return f"the makeup GAN has no {', '.join(bad)} region (it knows {', '.join(GAN_REGIONS)})"
        unknown = sorted({str(params.regions[r]) for r in regions} - set(self.styles))
        if unknown:
            return f"the makeup GAN was not trained on style(s) {', '.join(unknown)}"
        return None

    def paint_face(self, keypoints: np.ndarray, geo: FaceGeometry, params: MakeupParams,
                   styles: Mapping[str, MakeupStyle], out: np.ndarray, masks: dict[str, np.ndarray],
                   changed: np.ndarray) -> None:
        """Paint one face in its aligned crop and paste the change back into ``out`` inside the
        enabled regions' soft masks only.

        Args:
            keypoints: ``[3, 2]`` right eye, left eye, mouth centre in ``out``'s pixels.
            geo: the face (:func:`~engine.studios.makeup.classical.face_geometry` on the same image).
            params: validated parameters the GAN supports (see :meth:`support`).
            styles: the style table (region shapes come from the styles' ``area`` / ``feather``).
            out: ``uint8`` ``[H, W, 3]`` result being built, modified in place.
            masks: region name → full-size ``uint8`` mask (0–255), updated.
            changed: full-size bool map of the pixels that may differ from the input, updated.
        """
        from engine.faces.align import AlignedCrop, align_face, paste_back
        from engine.models.makeup_gan import region_vector

        x0, y0, x1, y1 = geo.box
        weight = np.zeros(geo.shape, np.float32)
        groups: dict[str, list[str]] = {}
        for region in params.enabled():
            style = str(params.regions[region])
            m, _, _ = region_mask(geo, region, styles[style].regions[region])
            full = masks[region][y0:y1, x0:x1]
            np.maximum(full, (m * 255 + 0.5).astype(np.uint8), out=full)
            np.maximum(weight, np.minimum(m * 2, 1) * np.float32(params.strength(region)), out=weight)
            groups.setdefault(style, []).append(region)
        sel = weight > CHANGE_THRESHOLD
        if not sel.any():
            return
        sub = out[y0:y1, x0:x1]  # the face's box; other faces may already be painted into it
        crop = align_face(out, keypoints, self.size)
        m = crop.matrix.astype(np.float64)
        m_sub = np.concatenate([m[:, :2], (m[:, 2] + m[:, :2] @ np.array([x0, y0], np.float64))[:, None]], 1)
        crop_sub = AlignedCrop(crop.image, m_sub, crop.size)
        dev = module_device(self.model)
        x = torch.from_numpy(crop.image).to(dev).permute(2, 0, 1)[None].float().div(255.0)  # [NCHW]
        with torch.no_grad():
            for style, regions in groups.items():
                cond = self.model.condition(torch.tensor([self.styles.index(style)], device=dev),
                                            torch.tensor([region_vector(regions)], device=dev),
                                            torch.tensor([0], device=dev))
                x, _ = self.model(x, cond)
        edited = (x[0].permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()  # [HWC]
        pasted = paste_back(sub, crop_sub, edited)
        src = sub.astype(np.float32)
        res = np.clip(src + (pasted.astype(np.float32) - src) * weight[:, :, None] + np.float32(0.5), 0, 255)
        sub[sel] = res.astype(np.uint8)[sel]
        changed[y0:y1, x0:x1] |= sel


def load_gan(path: Path, device: str) -> MakeupGAN:
    """Load a makeup GAN checkpoint (hash-verified, ``strict=True``) on ``device`` with its card's
    style names and crop side.

    Args:
        path: the card.
        device: torch device string (the backend passes :func:`~engine.device.select_device`'s).

    Returns:
        The wrapped generator.

    Raises:
        CheckpointError: unreadable, hash mismatch or refused weights.
        ValueError: the card's style list or input size does not fit the model.
    """
    from engine.weights.store import load_checkpoint

    model, card = load_checkpoint(path, device=device, verify_hash=True)
    return MakeupGAN.wrap(model, list(card.extra.get("styles", [])), int((card.input_size or (0,))[0]))


def describe_card(card: ModelCard) -> str:
    """The held-out numbers of a makeup GAN card, in one clause ("" when it records none).

    Args:
        card: the GAN's card.

    Returns:
        e.g. ``"held-out faces: L1 to the classical render inside the regions 3.1/255, SSIM to
        input 0.9500 vs classical 0.9600"``.
    """
    m = card.metrics
    if "learned_ssim_to_classical" not in m:
        return ""
    text = (f"held-out faces: L1 to the classical render inside the regions "
            f"{float(m.get('learned_region_l1_to_classical', float('nan'))):.1f}/255, SSIM to input "
            f"{float(m.get('learned_ssim_input', float('nan'))):.4f} vs classical "
            f"{float(m.get('classical_ssim_input', float('nan'))):.4f}")
    return text if card.better else f"{text}: it paints less; no realism measurement"


BACKEND = LearnedBackend(GAN_MODEL, title="the makeup GAN", classical="the classical renderer",
                         train_hint="masquerade train makeup-gan", describe=describe_card, load=load_gan)
"""The Makeup studio's learned engine (cards read on resolve, weights loaded in the worker)."""
