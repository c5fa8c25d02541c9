"""Shared neural-network parts of the paper models (pure torch, no compiled extensions).

* :mod:`engine.nn.blocks` — normalisation and residual blocks (AdaIN, SPADE, SFT, PyConv ...);
* :mod:`engine.nn.losses` — GAN losses and critic penalties used by :mod:`engine.training`.

Below :mod:`engine.models` in the layers: imports only torch and the engine's core.
"""
