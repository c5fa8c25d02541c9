"""Mask-wear studio parameters: which template, colour, fitting method, faces and shading."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.procedural.mask_templates import (
    ANCHORS,
    MaskTemplate,
    get_template,
    parse_color,
)
from engine.studios.base import CLASSICAL, LEARNED
from engine.studios.ranges import Range

RANGES: dict[str, Range] = {
    "lighting": Range(0.0, 1.0),
    "offset": Range(-4096.0, 4096.0, unit="px"),
    "size": Range(32, 1024, integer=True, unit="px"),
}
"""Valid range of each numeric mask-wear parameter: ``lighting``, each anchor nudge of ``offsets``
(dx and dy) and ``size`` (the side of ``batch wear-mask``'s aligned crops)."""

METHODS = ("auto", "keypoint", "learned")
"""Fitting methods, as the CLI (``--method``), batch and GUI name them."""
METHOD_BACKENDS: dict[str, str] = {"auto": "auto", "keypoint": CLASSICAL, "learned": LEARNED}
"""Fitting method → backend request: the key-point fit is the classical twin of the learned refiner."""


@dataclass(frozen=True)
class MaskWearParams:
    """What to put on which faces.

    Args:
        template: built-in template name (:func:`~engine.procedural.mask_templates.template_names`).
        color: ``#RRGGBB`` main colour, or ``None`` for the template's own.
        method: ``"keypoint"`` (classical), ``"learned"`` (the trained refiner; a one-line error when
            there is none usable) or ``"auto"`` (the refiner only when its card's verdict says it
            measured better than the key-point fit, else key-point).
        faces: ``"all"`` or ``"largest"``.
        lighting: [0, 1], how strongly the mask takes the face's shading and brightness.
        offsets: manual nudges ``((anchor, dx, dy), ...)`` in image pixels (each in [-4096, 4096]),
            applied to the largest face.
        user_template: a loaded user template; overrides ``template`` when set.
        ear_loops: draw the drawn surgical masks' ear loops (photographed templates keep theirs).
    """

    template: str = "surgical-blue"
    color: str | None = None
    method: str = "auto"
    faces: str = "all"
    lighting: float = 0.8
    offsets: tuple[tuple[str, float, float], ...] = ()
    user_template: MaskTemplate | None = field(default=None, compare=False, repr=False)
    ear_loops: bool = True

    def validate(self) -> MaskWearParams:
        """Check every field.

        Returns:
            ``self``.

        Raises:
            ValueError: unknown method, faces choice or anchor; lighting or an offset out of its
                :data:`RANGES`; a colour that is not ``#RRGGBB``.
        """
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.faces not in ("all", "largest"):
            raise ValueError(f"faces must be 'all' or 'largest', got {self.faces!r}")
        RANGES["lighting"].check("lighting", self.lighting)
        if self.color is not None:
            parse_color(self.color)
        for name, dx, dy in self.offsets:
            if name not in ANCHORS:
                raise ValueError(f"unknown anchor {name!r} in offsets (use {', '.join(ANCHORS)})")
            RANGES["offset"].check(f"offset of {name}", dx)
            RANGES["offset"].check(f"offset of {name}", dy)
        return self

    @property
    def backend(self) -> str:
        """The backend request of :attr:`method` (``"auto"``, ``"classical"`` or ``"neural"``)."""
        return METHOD_BACKENDS[self.method]

    def resolve_template(self) -> MaskTemplate:
        """The template to warp: the user's, or the built-in one in :attr:`color`.

        Raises:
            ValueError: unknown built-in template or bad colour.
        """
        if self.user_template is not None:
            return self.user_template
        return get_template(self.template, parse_color(self.color) if self.color else None, self.ear_loops)
