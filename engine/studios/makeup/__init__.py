"""Makeup studio: lips, eyeshadow, eyeliner, cheek, base and brows in named styles, at an intensity.

Modules: :mod:`~engine.studios.makeup.params` (styles, the style-file schema, what an edit asks for),
:mod:`~engine.studios.makeup.classical` (landmark regions + CIELAB rendering),
:mod:`~engine.studios.makeup.learned` (the makeup GAN and its backend),
:mod:`~engine.studios.makeup.editor` (:class:`~engine.studios.makeup.editor.MakeupEditor`),
``cli`` and ``batch``.
"""
