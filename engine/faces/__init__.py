"""Face analysis: detection, 478-point landmarks, alignment, 19-class parsing (offline by default).

Real faces: :class:`FaceAnalyzer` (MediaPipe by default, facexlib when its weights are present).
Anime faces: :mod:`engine.faces.anime`.
"""

from engine.faces.align import AlignedCrop, align_face, paste_back
from engine.faces.analyzer import FaceAnalyzer
from engine.faces.types import Face, FaceAnalysis

__all__ = ["AlignedCrop", "Face", "FaceAnalysis", "FaceAnalyzer", "align_face", "paste_back"]
