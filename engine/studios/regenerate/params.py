"""Regenerate studio parameters: what one edit asks for (frozen, validated at the engine boundary)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.labels import CELEBAMASK_HQ
from engine.studios.regenerate.edits import check_labels

CLASSES: tuple[str, ...] = CELEBAMASK_HQ.classes
"""Label names in the official CelebAMask-HQ order (index = label value)."""


@dataclass(frozen=True)
class RegenerateParams:
    """What to regenerate.

    Args:
        mask: edited label map, ``uint8`` ``[H, W]``, official order; any size with the source's
            aspect ratio (it is resized with nearest neighbour to the image being edited).
        reference_regions: label names whose style comes from the reference face (see
            :meth:`~engine.studios.regenerate.editor.RegenerateEditor.set_reference`); empty = everything from the source.
        blend: 0–1, how much of the reference style the reference regions take (0 = none).
        feather: seam smoothing width in pixels at full resolution (0 = hard seams).
    """

    mask: np.ndarray = field(compare=False, repr=False)   # edited labels [H, W] uint8, official order
    reference_regions: tuple[str, ...] = ()               # labels styled from the reference
    blend: float = 1.0                                    # 0 = source style only, 1 = reference style
    feather: float = 1.0                                  # seam smoothing sigma in px (0 = none)

    def validate(self) -> RegenerateParams:
        """Check the values.

        Returns:
            ``self``.

        Raises:
            ValueError: a bad mask, an unknown region name, ``blend`` or ``feather`` out of range.
        """
        check_labels(self.mask, "edited mask")
        for n in self.reference_regions:
            if n not in CLASSES:
                raise ValueError(f"unknown region {n!r}; use label names: {', '.join(CLASSES)}")
        if not 0.0 <= self.blend <= 1.0:
            raise ValueError(f"blend must be in [0, 1], got {self.blend}")
        if not 0.0 <= self.feather <= 10.0:
            raise ValueError(f"feather must be in [0, 10] px, got {self.feather}")
        return self
