"""Mask-wear studio: put surgical / KN95 / N95 / cloth masks on faces.

Modules: :mod:`~engine.studios.maskwear.params` (:class:`MaskWearParams`, the method words),
:mod:`~engine.studios.maskwear.classical` (the key-point fit), :mod:`~engine.studios.maskwear.learned`
(the learned refiner and its :class:`~engine.studios.base.LearnedBackend`),
:mod:`~engine.studios.maskwear.editor` (:class:`MaskWearEditor`, :func:`put_mask`), ``cli`` and
``batch``. Nothing is imported here, so the batch registry can import ``batch`` cheaply.
"""
