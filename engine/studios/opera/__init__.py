"""The Opera studio's engine (Peking-opera masks, lianpu).

Modules:

* :mod:`~engine.studios.opera.params` — frozen parameter dataclasses (XDoG, colouring).
* :mod:`~engine.studios.opera.classical` — the classical algorithms: XDoG line art, main-colour
  classification by paint rules, colouring a sketch from a reference by region correspondence.
* :mod:`~engine.studios.opera.learned` — the trained CoCosNet colouring (its learned backend and
  inference).
* :mod:`~engine.studios.opera.classify` — main-colour classification with a backend choice
  (paint rules or the trained ResNet-18).
* :mod:`~engine.studios.opera.generate` — the trained StyleGAN2 lianpu generator.
* :mod:`~engine.studios.opera.editor` — the editors: ``LineArtEditor``, ``ColorizeEditor``.
* :mod:`~engine.studios.opera.cli` — ``masquerade opera …`` and the batch colouring op.
"""
