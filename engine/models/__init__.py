"""One file per paper model; importing this package registers them with engine.checkpoints."""

from engine.models import expression_gan  # noqa: F401
from engine.models import makeup_gan  # noqa: F401
from engine.models import maskwear_stn  # noqa: F401
from engine.models import opera_classifier  # noqa: F401
from engine.models import regen  # noqa: F401
from engine.models import stylegan2  # noqa: F401
from engine.models import cocosnet  # noqa: F401
