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
              drawing_styles.__name__.split(".")[-1], bool(mp.__version__), mp.tasks.vision.__name__)
    """)
    assert out == "True drawing_utils drawing_styles True mediapipe.tasks.python.vision"


def test_unknown_solution_is_an_import_error() -> None:
    from engine._compat.mediapipe_light import solution

    with pytest.raises(ImportError):
        solution("no_such_solution")


def test_quiet_native_stderr_nests_across_threads() -> None:
    """A batch's worker threads each silence MediaPipe: the first in redirects fd 2, the last out
    restores it, whatever the order they leave in."""
    import os
    import threading

    from engine.faces.cli import quiet_native_stderr

    real = os.fstat(2)
    null = os.stat(os.devnull)
    inside, leave_first = threading.Event(), threading.Event()
    seen: list[tuple[int, int]] = []

    def worker() -> None:
        with quiet_native_stderr():
            inside.set()
            leave_first.wait(10)
            st = os.fstat(2)
            seen.append((st.st_dev, st.st_ino))

    t = threading.Thread(target=worker)
    t.start()
    inside.wait(10)
    with quiet_native_stderr():  # entered second, left first
        pass
    st = os.fstat(2)
    assert (st.st_dev, st.st_ino) == (null.st_dev, null.st_ino)  # the other thread is still quiet
    leave_first.set()
    t.join(10)
    assert seen == [(null.st_dev, null.st_ino)]
    st = os.fstat(2)
    assert (st.st_dev, st.st_ino) == (real.st_dev, real.st_ino)
