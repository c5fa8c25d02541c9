"""Regenerate studio: re-render a face so that it follows an edited 19-label semantic map.

Modules: :mod:`~engine.studios.regenerate.params` (what an edit asks for),
:mod:`~engine.studios.regenerate.edits` (label-map files and edit operations),
:mod:`~engine.studios.regenerate.classical` (label-guided exemplar synthesis),
:mod:`~engine.studios.regenerate.learned` (the learned inpainting network and its backend),
:mod:`~engine.studios.regenerate.editor` (:class:`~engine.studios.regenerate.editor.RegenerateEditor`),
``cli`` and ``batch``.
"""
