"""Expression studio: label sliders (angry, sad, smile, surprised) on anime faces.

Modules: :mod:`~engine.studios.expression.params` (:class:`ExpressionParams`),
:mod:`~engine.studios.expression.classical` (the warp rig), :mod:`~engine.studios.expression.learned`
(the expression GAN and its :class:`~engine.studios.base.LearnedBackend`),
:mod:`~engine.studios.expression.editor` (:class:`ExpressionEditor`), ``cli`` and ``batch``. Nothing
is imported here, so the batch registry can import ``batch`` cheaply.
"""
