"""One file per paper model; importing this package registers them with engine.models.registry."""

from engine.models import (
    cocosnet,  # noqa: F401
    expression_gan,  # noqa: F401
    makeup_gan,  # noqa: F401
    maskwear_stn,  # noqa: F401
    opera_classifier,  # noqa: F401
    regen,  # noqa: F401
    stylegan2,  # noqa: F401
)
