"""Index sets of the MediaPipe 478-point face mesh (468 mesh points + 10 iris points).

"left"/"right" are the *person's* sides (as in CelebAMask-HQ): on a frontal, unmirrored photo the
person's left eye lies on the right half of the image. Loops are ordered so they can be filled as
polygons.
"""

from __future__ import annotations

N_LANDMARKS = 478

FACE_OVAL: tuple[int, ...] = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
    148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
"""Jaw line and forehead (mid-forehead, below the hairline), clockwise from the top."""

LEFT_EYE: tuple[int, ...] = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_EYE: tuple[int, ...] = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_IRIS: tuple[int, ...] = (473, 474, 475, 476, 477)  # centre first
RIGHT_IRIS: tuple[int, ...] = (468, 469, 470, 471, 472)

LEFT_BROW: tuple[int, ...] = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
"""Upper edge outward→inward, then lower edge inward→outward."""
RIGHT_BROW: tuple[int, ...] = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)

NOSE: tuple[int, ...] = (
    168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 97, 98, 64, 48, 115, 220, 45, 326, 327, 294, 278, 344,
    440, 275,
)
"""Bridge and alae; the nose region is their convex hull."""

LIPS_OUTER_UPPER: tuple[int, ...] = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER: tuple[int, ...] = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER: tuple[int, ...] = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER: tuple[int, ...] = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)

MOUTH_CORNERS: tuple[int, int] = (61, 291)
"""Person's right corner (image left), person's left corner."""

NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10
JAW_RIGHT, JAW_LEFT = 234, 454
"""Outermost oval points at cheekbone height (person's right = image left)."""
