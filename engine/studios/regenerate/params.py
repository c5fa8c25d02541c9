"""Regenerate studio parameters: what one edit asks for (frozen, validated at the engine boundary)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.labels import CELEBAMASK_HQ
from engine.studios.ranges import Range, check_ranges
from engine.studios.regenerate.edits import EDIT_RANGES, check_labels

CLASSES: tuple[str, ...] = CELEBAMASK_HQ.classes
"""Label names in the official CelebAMask-HQ order (index = label value)."""

PARAM_RANGES: dict[str, Range] = {
    "blend": Range(0.0, 1.0),
    "feather": Range(0.0, 10.0, unit="px"),
}
"""Valid range of each numeric :class:`RegenerateParams` field (``--blend``, the panel's slider)."""

RANGES: dict[str, Range] = {**PARAM_RANGES, **{f"edits {op}": r for op, r in EDIT_RANGES.items()}}
"""Every numeric parameter of the Regenerate studio → its valid range: the edit parameters and the
number of each ``--edits`` operation (``edits dilate`` = the ``PX`` of ``dilate:LABELS:PX``)."""


@dataclass(frozen=True)
class RegenerateParams:
    """What to regenerate.

    Args:
        mask: edited label map, ``uint8`` ``[H, W]``, official order; any size with the source's
            aspect ratio (it is resized with nearest neighbour to the image being edited).
        reference_regions: label names whose style comes from the reference face (see
            :meth:`~engine.studios.regenerate.editor.RegenerateEditor.set_reference`); empty = everything from the source.
        blend: [0, 1], how much of the reference style the reference regions take (0 = none).
        feather: seam smoothing width in pixels at full resolution, [0, 10] (0 = hard seams).
        painted: optional bool ``[H, W]`` (``mask``'s size): the pixels the user's strokes
            covered; a painted piece that changed labels is synthesised anew as a whole (see
            :func:`~engine.studios.regenerate.classical.repainted_pixels`). None = strokes unknown.
    """

    mask: np.ndarray = field(compare=False, repr=False)   # edited labels [H, W] uint8, official order
    reference_regions: tuple[str, ...] = ()               # labels styled from the reference
    blend: float = 1.0                                    # 0 = source style only, 1 = reference style
    feather: float = 1.0                                  # seam smoothing sigma in px (0 = none)
    painted: np.ndarray | None = field(default=None, compare=False, repr=False)  # strokes, bool [H, W]

    def validate(self) -> RegenerateParams:
        """Check the values.

        Returns:
            ``self``.

        Raises:
            ValueError: a bad mask, a painted mask of another size, an unknown region name,
                ``blend`` or ``feather`` out of range.
        """
        check_labels(self.mask, "edited mask")
        if self.painted is not None and np.shape(self.painted) != np.shape(self.mask):
            raise ValueError(f"painted mask {np.shape(self.painted)} must match the edited mask {np.shape(self.mask)}")
        for n in self.reference_regions:
            if n not in CLASSES:
                raise ValueError(f"unknown region {n!r}; use label names: {', '.join(CLASSES)}")
        check_ranges(PARAM_RANGES, {"blend": self.blend, "feather": self.feather})
        return self
