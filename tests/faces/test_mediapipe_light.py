"""engine._compat.mediapipe_light: one MediaPipe solution without matplotlib or the Tasks API, and
the whole package still usable afterwards in the same process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mediapipe")


def _run(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.strip()


def test_solution_skips_matplotlib_and_tasks_and_runs() -> None:
    out = _run("""
        import sys
        import numpy as np
        from engine._compat.mediapipe_light import solution
        fd = solution("face_detection")
        with fd.FaceDetection(model_selection=1) as det:
            res = det.process(np.zeros((64, 64, 3), np.uint8))
        print(res.detections is None, "matplotlib" in sys.modules, "mediapipe.tasks" in sys.modules)
    """)
    assert out == "True False False"


def test_whole_package_after_a_light_import() -> None:
    out = _run("""
        from engine._compat.mediapipe_light import solution
        mesh = solution("face_mesh")
        import mediapipe as mp
        from mediapipe.python.solutions import drawing_styles
        print(mp.solutions.face_mesh is mesh, mp.solutions.drawing_utils.__name__.split(".")[-1],
              drawing_styles.__name__.split(".")[-1], bool(mp.__version__), mp.tasks is not None)
    """)
    assert out == "True drawing_utils drawing_styles True True"


def test_unknown_solution_is_an_import_error() -> None:
    from engine._compat.mediapipe_light import solution

    with pytest.raises(ImportError):
        solution("no_such_solution")
