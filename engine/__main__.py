"""``python -m engine <command>``: the headless CLI."""

import sys

from engine.cli import main

sys.exit(main())
