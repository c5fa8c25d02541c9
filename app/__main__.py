"""``python -m app``: same as the ``masquerade`` console script."""

import sys

from app.launcher import main

sys.exit(main())
