"""Entry script of the frozen build: the same ``app.launcher:main`` as the ``masquerade`` console script.

Two things only a frozen build needs happen first:

* :func:`multiprocessing.freeze_support` — batch workers are started with the ``spawn`` method,
  which re-runs this executable; the child must become a worker, not parse the command line.
* the user's weights folder (:func:`engine.weights.catalog.user_weights_dir`) is appended to
  ``MASQUERADE_CHECKPOINTS`` and ``MASQUERADE_FACEXLIB_DIR``, because the bundle's own
  ``checkpoints/`` folder may be read-only once installed. ``masquerade weights import`` writes
  there, and the face analysis and checkpoint look-ups then find the imported files.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from engine.weights.catalog import add_user_weights_to_search_path

    add_user_weights_to_search_path()
    from app.launcher import main

    sys.exit(main())
