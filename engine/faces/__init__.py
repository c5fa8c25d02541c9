"""Face analysis: detection, 478-point landmarks, alignment, 19-class parsing (offline by default).

Real faces: :class:`FaceAnalyzer` (MediaPipe by default, facexlib when its weights are present).
Anime faces: :mod:`engine.faces.anime`.

:class:`FaceAnalyzer` is imported on first use (``from engine.faces import FaceAnalyzer`` works as
before): importing a submodule such as :mod:`engine.faces.detect` does not load the analyzer's
learned backends (torch), which a batch worker that only detects would pay for at start-up.
"""

from typing import TYPE_CHECKING, Any

from engine.faces.align import AlignedCrop, align_face, paste_back
from engine.faces.types import Face, FaceAnalysis

if TYPE_CHECKING:
    from engine.faces.analyzer import FaceAnalyzer

__all__ = ["AlignedCrop", "Face", "FaceAnalysis", "FaceAnalyzer", "align_face", "paste_back"]


def __getattr__(name: str) -> Any:
    if name == "FaceAnalyzer":
        from engine.faces.analyzer import FaceAnalyzer

        return FaceAnalyzer
    raise AttributeError(f"module 'engine.faces' has no attribute {name!r}")
