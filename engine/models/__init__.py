"""One file per paper model; importing this package registers them with engine.models.registry."""

from engine.models import (
    cocosnet,
    expression_gan,
    makeup_gan,
    maskwear_stn,
    opera_classifier,
    parser,
    regen,
    regen_inpaint,
    stylegan2,
)

__all__ = ["cocosnet", "expression_gan", "makeup_gan", "maskwear_stn", "opera_classifier", "parser", "regen", "regen_inpaint", "stylegan2"]
