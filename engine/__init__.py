"""Masquerade engine: GUI-free image and model code.

numpy arrays at the public boundary (RGB ``uint8`` ``HxWx3`` unless documented otherwise),
torch inside. This package never imports Qt (an import-linter contract enforces it).
"""

__version__ = "0.1.0"
