"""A key-point ``batch wear-mask`` worker never imports torch: every worker process pays its
imports, and torch alone was ~1.5 s of CPU per process, more than the batch's per-image work on a
hundred photos."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from skimage import data

from engine.imageio import save_image


def test_keypoint_worker_runs_without_torch(tmp_path: Path) -> None:
    photo = save_image(tmp_path / "astronaut.png", data.astronaut())
    code = textwrap.dedent(f"""
        import sys
        from engine.imageio import load_image
        from engine.studios.maskwear.batch import wear_mask_params, wear_mask_runner
        params = wear_mask_params({{"method": "keypoint", "template": "kn95"}})
        out = wear_mask_runner()(load_image({str(photo)!r}), params)
        assert out["masked"].shape == (144, 144, 3), out["masked"].shape
        assert out["alpha"].max() == 255
        print("heavy:", [m for m in ("torch", "scipy") if m in sys.modules])
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "heavy: []" in r.stdout, r.stdout
