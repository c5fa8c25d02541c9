"""Mask-wear bench section: single fit after analysis at 512², dataset export throughput, fit
coverage on the labelled pairs (upright and turned by 90/180/270°), a white mask on light and dark
skin, detection recall on the real masked photos, and ``batch wear-mask`` on ~100 512-px photos.

``python -m bench.maskwear [--sections a,b,...] [--out FILE]`` runs single sections (JSON on stdout
or in FILE): ``fit``, ``coverage``, ``orientation``, ``orientation_heldout``, ``white``, ``recall``,
``photos512``, ``batch300``,
``identity``, ``sheet`` (a contact sheet PNG, :func:`sheet`).

Throughput runs ``batch wear-mask`` (analysis included) on 300 256² images made from
``skimage.data.astronaut()`` (flips, shifts and brightness changes, so every image is analysed
anew) with 1 and 2 worker processes; start-up is included in ``faces_per_s``.

Identity: the distance input → masked result (dlib's ResNet face descriptor,
:mod:`engine.metrics.identity`, same person < 0.6) per fitting method on astronaut + the first
``../shared/data/faces/photos`` when present: how much of the person a masked face still shows
(the mask hides the lower face, so it is higher than for makeup; results with no face found are
counted as ``skipped``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

TARGET_FIT_MS = 30.0
TARGET_FACES_PER_S = 25.0
SHARED_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "photos"
IDENTITY_TEMPLATES = ("surgical-blue", "kn95")


def _identity(photos: int = 5) -> dict[str, Any]:
    """Mean identity distance input → result per method (``keypoint``, ``auto``) over the templates."""
    from skimage import data

    from engine.errors import LearnedBackendError, NoFaceError
    from engine.faces import FaceAnalyzer
    from engine.imageio import load_image
    from engine.metrics.identity import identity_report
    from engine.studios.maskwear.editor import put_mask
    from engine.studios.maskwear.params import MaskWearParams

    analyzer = FaceAnalyzer()
    images = [data.astronaut()] + [load_image(p) for p in sorted(SHARED_PHOTOS.glob("*.jpg"))[:photos]]
    out: dict[str, Any] = {"images": len(images), "templates": list(IDENTITY_TEMPLATES)}
    for method in ("keypoint", "auto"):
        pairs: list[tuple[np.ndarray, np.ndarray]] = []
        for img in images:
            faces = analyzer.analyze(img, parse=False).faces
            for template in IDENTITY_TEMPLATES:
                try:
                    result, _, _ = put_mask(img, faces, MaskWearParams(template=template, method=method))
                except (NoFaceError, LearnedBackendError):
                    continue
                pairs.append((img, result))
        out[method] = identity_report(pairs)
    return out


def _fit_ms(runs: int = 20) -> dict[str, float]:
    from skimage import data

    from engine.faces import FaceAnalyzer
    from engine.studios.maskwear.editor import put_mask
    from engine.studios.maskwear.params import MaskWearParams

    img = data.astronaut()
    faces = FaceAnalyzer().analyze(img, parse=False).faces
    put_mask(img, faces, MaskWearParams(method="keypoint"))
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        put_mask(img, faces, MaskWearParams(method="keypoint"))
        t.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(float(np.median(t)), 2), "p90_ms": round(float(np.percentile(t, 90)), 2)}


def _inputs(folder: Path, count: int) -> None:
    """``count`` 256² astronaut variants (the batch-engines bench's inputs)."""
    from bench.batch_engines import make_inputs

    make_inputs(folder, count, side=256)


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PARSING = SHARED / "faces" / "parsing"
REAL_MASKED = SHARED / "maskwear" / "real_masked"
COVERAGE_GROUPS: dict[str, tuple[int, ...]] = {"lips_mouth": (10, 11, 12), "nose": (2,), "eyes": (4, 5),
                                               "background_hair": (0, 13), "neck": (17,)}
"""Label groups (official CelebAMask-HQ order) whose covered share the coverage section reports."""
COVERAGE_TEMPLATES = ("surgical-blue", "kn95", "cloth-plain", "mtf-surgical", "mtf-kn95")
TARGET_NECK = 0.05
TARGET_LIPS = 0.98
TARGET_IMAGES_PER_S = 40.0


def _coverage_of(pairs: list[tuple[np.ndarray, np.ndarray, list]], template: str, method: str) -> dict[str, float]:
    from engine.errors import NoFaceError
    from engine.studios.maskwear.editor import put_mask
    from engine.studios.maskwear.params import MaskWearParams

    cov = {k: [0, 0] for k in COVERAGE_GROUPS}
    missed = 0
    for img, gt, faces in pairs:
        try:
            _, alpha, _ = put_mask(img, faces, MaskWearParams(template=template, method=method, faces="largest"))
        except NoFaceError:
            missed += 1
            alpha = np.zeros(gt.shape, np.float32)
        c = alpha > 0.5
        for k, ids in COVERAGE_GROUPS.items():
            m = np.isin(gt, ids)
            cov[k][0] += int((c & m).sum())
            cov[k][1] += int(m.sum())
    out = {k: round(v[0] / v[1], 4) if v[1] else None for k, v in cov.items()}
    out["no_face"] = missed
    return out


def coverage() -> dict[str, Any]:
    """Covered share of each label group (pixels pooled over the 9 labelled pairs) per template and
    method, and for surgical-blue with the pairs turned by 90°, 180°, 270° (analysis included)."""
    from PIL import Image

    from engine.faces import FaceAnalyzer
    from engine.imageio import load_image

    files = sorted(PARSING.glob("*.jpg"))
    if not files:
        return {"skipped": "no ../shared/data/faces/parsing"}
    analyzer = FaceAnalyzer(parser="geometric")
    doc: dict[str, Any] = {"pairs": len(files), "templates": {}}
    for k in (0, 1, 2, 3):
        pairs = []
        for jpg in files:
            img = np.ascontiguousarray(np.rot90(load_image(jpg), k))
            gt = np.ascontiguousarray(np.rot90(np.asarray(Image.open(jpg.with_suffix(".png"))), k))
            pairs.append((img, gt, analyzer.analyze(img, parse=False).faces))
        if k == 0:
            for t in COVERAGE_TEMPLATES:
                doc["templates"][t] = {m: _coverage_of(pairs, t, m) for m in ("keypoint", "auto")}
        else:
            doc[f"rotated_{90 * k}"] = _coverage_of(pairs, "surgical-blue", "keypoint")
    worst = [v for t in doc["templates"].values() for v in t.values()]
    doc["targets"] = {"neck_max": TARGET_NECK, "lips_min": TARGET_LIPS,
                      "pass": all(v["neck"] <= TARGET_NECK and v["lips_mouth"] >= TARGET_LIPS and v["eyes"] < 0.001
                                  for v in worst)}
    return doc


ORIENTATION_HELD_OUT = (120, 300)
"""The real masked photos (sorted by name) of ``orientation_heldout``: those after the 120 the 180°
rules (:data:`engine.faces.detect.UPSIDE_DOWN_MARGIN`, :data:`~engine.faces.detect.ORIENT_SURE`)
were chosen on."""


def orientation(real: int = 120, start: int = 0, pairs: bool = True) -> dict[str, Any]:
    """The 180° rule on the development photos, with the default analyzer and (``batch``) with the
    dataset batch's analysis (:class:`~engine.studios.maskwear.batch.DatasetAnalysis`: short-range
    model first): per labelled pair turned by 180° (with ``pairs``), the orientation found and the
    lips+mouth share a surgical mask covers (a mask on the forehead covers ~0); the real masked
    photos ``start`` … ``real - 1`` upright (how many are wrongly turned) and turned by 180° (how
    many are turned back)."""
    from engine.faces import FaceAnalyzer
    from engine.studios.maskwear.batch import DatasetAnalysis

    files = sorted(PARSING.glob("*.jpg")) if pairs else []
    photos = sorted(REAL_MASKED.glob("*.jpg"))[start:real]
    if (pairs and not files) or not photos:
        return {"skipped": "no ../shared/data/faces/parsing or maskwear/real_masked"}
    analyzer = FaceAnalyzer(parser="geometric")

    def window(img: np.ndarray) -> tuple[list[Any], int]:
        res = analyzer.analyze(img, parse=False)
        return list(res.faces), int(res.info["rotation"])

    batch = DatasetAnalysis()

    def dataset(img: np.ndarray) -> tuple[list[Any], int]:
        faces, rotation = batch.finder.find(img, max_faces=1)
        return [f for f in faces if f.landmarks is not None], rotation

    doc = _orientation_of(window, files, photos)
    doc["batch"] = _orientation_of(dataset, files, photos)
    return doc


def orientation_heldout() -> dict[str, Any]:
    """:func:`orientation` on the real masked photos :data:`ORIENTATION_HELD_OUT` only (no pairs):
    photos the rules were not chosen on."""
    return orientation(real=ORIENTATION_HELD_OUT[1], start=ORIENTATION_HELD_OUT[0], pairs=False)


def _orientation_of(find: Any, files: list[Path], photos: list[Path]) -> dict[str, Any]:
    """:func:`orientation`'s counts for one analysis ``find(img) -> (faces, rotation)``."""
    from PIL import Image

    from engine.errors import NoFaceError
    from engine.imageio import load_image
    from engine.studios.maskwear.editor import put_mask
    from engine.studios.maskwear.params import MaskWearParams

    doc: dict[str, Any] = {"pairs_180": {}}
    lips = COVERAGE_GROUPS["lips_mouth"]
    for jpg in files:
        img = np.ascontiguousarray(np.rot90(load_image(jpg), 2))
        gt = np.ascontiguousarray(np.rot90(np.asarray(Image.open(jpg.with_suffix(".png"))), 2))
        faces, rotation = find(img)
        try:
            _, alpha, _ = put_mask(img, faces, MaskWearParams(template="surgical-blue", method="keypoint",
                                                              faces="largest"))
        except NoFaceError:
            alpha = np.zeros(gt.shape, np.float32)
        m = np.isin(gt, lips)
        doc["pairs_180"][jpg.stem] = {"rotation": rotation,
                                      "lips_mouth": round(float((alpha[m] > 0.5).mean()), 3) if m.any() else None}
    if files:
        doc["pairs_180_right"] = sum(v["rotation"] == 180 for v in doc["pairs_180"].values())
    upright_wrong, turned_right, found_up, found_turned = [], 0, 0, 0
    for p in photos:
        img = load_image(p)
        faces, rotation = find(img)
        if faces:
            found_up += 1
            if rotation != 0:
                upright_wrong.append(p.name)
        faces, rotation = find(np.ascontiguousarray(np.rot90(img, 2)))
        if faces:
            found_turned += 1
            turned_right += rotation == 180
    doc["real_upright"] = {"photos": len(photos), "with_face": found_up, "turned_wrongly": len(upright_wrong),
                           "names": upright_wrong}
    doc["real_turned_180"] = {"photos": len(photos), "with_face": found_turned, "turned_back": turned_right}
    return doc


def white_mask_on_dark_skin(img: np.ndarray, faces: list[Any]) -> dict[str, float]:
    """A white mask (surgical-white, key-point fit, full lighting) on ``img`` and on a copy with only
    the largest face's oval darkened to a dark skin tone (the light unchanged): the mean brightness of
    the fully covered mask pixels on each, and of the face before and after."""
    from engine.faces import topology as T
    from engine.studios.maskwear.editor import put_mask
    from engine.studios.maskwear.params import MaskWearParams

    lm = faces[0].landmarks
    face = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(face, [np.round(lm[list(T.FACE_OVAL)]).astype(np.int32)], 1)
    dark = img.copy()
    dark[face > 0] = (dark[face > 0] * np.array([0.35, 0.3, 0.28])).astype(np.uint8)
    p = MaskWearParams(template="surgical-white", method="keypoint", lighting=1.0)
    out_l, alpha, _ = put_mask(img, faces, p)
    out_d, _, _ = put_mask(dark, faces, p)
    m = alpha > 0.99
    return {"skin_light": float(img[face > 0].mean()), "skin_dark": float(dark[face > 0].mean()),
            "mask_on_light": float(out_l[m].mean()), "mask_on_dark": float(out_d[m].mean())}


def white_on_skin() -> dict[str, Any]:
    """Mean brightness of a white mask on astronaut and on the same photo with only the face darkened
    to a dark skin tone (:func:`white_mask_on_dark_skin`)."""
    from skimage import data

    from engine.faces import FaceAnalyzer

    img = data.astronaut()
    faces = FaceAnalyzer(parser="geometric").analyze(img, parse=False).faces
    w = white_mask_on_dark_skin(img, faces)
    return {**{k: round(v, 1) for k, v in w.items()},
            "ratio_dark_to_light": round(w["mask_on_dark"] / w["mask_on_light"], 3)}


def recall(limit: int | None = None) -> dict[str, Any]:
    """Photos with at least one fitted face (mesh landmarks) among the real masked development photos:
    MediaPipe alone (before) and the default analyzer (MediaPipe + YuNet boxes merged, turned images
    tried; after); the photos only one of them fits are listed."""
    from engine.faces import FaceAnalyzer
    from engine.imageio import load_image

    files = sorted(REAL_MASKED.glob("*.jpg"))[:limit]
    if not files:
        return {"skipped": "no ../shared/data/maskwear/real_masked"}
    doc: dict[str, Any] = {"photos": len(files)}
    fitted: dict[str, set[str]] = {}
    for name, kw in (("mediapipe", {"detector": "mediapipe"}), ("mediapipe+yunet", {})):
        analyzer = FaceAnalyzer(parser="geometric", **kw)
        t0 = time.perf_counter()
        fitted[name] = {p.name for p in files if analyzer.analyze(load_image(p), parse=False).faces}
        doc[name] = {"photos_with_face": len(fitted[name]), "s": round(time.perf_counter() - t0, 1)}
    doc["only_yunet_merge"] = sorted(fitted["mediapipe+yunet"] - fitted["mediapipe"])
    doc["only_mediapipe"] = sorted(fitted["mediapipe"] - fitted["mediapipe+yunet"])
    return doc


def _photos512(folder: Path, count: int) -> None:
    """``count`` 512-px face photos: the shared dev photos (flipped / shifted copies to make up the
    count), or astronaut variants without them."""
    from engine.imageio import load_image, save_image

    base = [load_image(p) for p in sorted((SHARED / "faces" / "photos").glob("*.jpg"))] or [data_astronaut()]
    rng = np.random.default_rng(1)
    for i in range(count):
        img = base[i % len(base)]
        if i >= len(base):
            img = img[:, ::-1] if (i // len(base)) % 2 else img
            dx, dy = rng.integers(-20, 20, 2)
            img = cv2.warpAffine(np.ascontiguousarray(img), np.float32([[1, 0, dx], [0, 1, dy]]),
                                 (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)
        img = cv2.resize(np.ascontiguousarray(img), (512, 512), interpolation=cv2.INTER_AREA)
        save_image(folder / f"p{i:03d}.jpg", img)


def data_astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


BASELINE_ENV = "MASQUERADE_BENCH_BASELINE"
"""A folder holding another version of the repository (``git archive <commit> | tar -x -C DIR``):
``photos512`` and ``batch300`` then also run it, interleaved with this one, in the same run."""


def _trees() -> list[tuple[str, Path]]:
    """``[("current", this repository), ("baseline", $MASQUERADE_BENCH_BASELINE)]`` (the second only
    when set)."""
    import os

    out = [("current", Path(__file__).resolve().parents[1])]
    base = os.environ.get(BASELINE_ENV)
    if base:
        out.append(("baseline", Path(base).resolve()))
    return out


def _load() -> float:
    """The 1-minute load average (the machine is shared: each timing carries it)."""
    import os

    return round(os.getloadavg()[0], 2)


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children (and theirs): what a run cost
    the cores, whatever else the shared machine was doing."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def installed_env(pycache: Path) -> dict[str, str]:
    """This process's environment for a child that starts like an installed product: Python
    writes and reads compiled bytecode (in ``pycache``, outside the repository) even where
    ``PYTHONDONTWRITEBYTECODE`` is set, as on this workplace's machines (an install has its
    ``.pyc`` files; compiling every module on each start cost ~80 ms of a batch's start-up)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def photos512(count: int = 100) -> dict[str, Any]:
    """``masquerade batch wear-mask`` as a user runs it (a new process: start-up included) on
    ``count`` 512-px face photos with 1 and 2 workers, ``--method auto`` and ``--method keypoint``;
    with :data:`BASELINE_ENV` set, the baseline tree's runs are interleaved with these (same
    inputs, same run). Each entry carries the load average before and after it and the CPU seconds
    the run used (``images_per_cpu_s``: its rate per busy core, less sensitive to the load). The
    children run with compiled bytecode (:func:`installed_env`), written by one untimed one-image
    run per tree."""
    import subprocess
    import sys

    doc: dict[str, Any] = {"images": count, "bytecode": "compiled once before the timed runs, as an install has it"}
    with tempfile.TemporaryDirectory(prefix="masquerade-bench-mw512-") as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        _photos512(work / "in", count)
        env = installed_env(work / "pycache")
        (work / "one").mkdir()
        (work / "one" / "p000.jpg").write_bytes((work / "in" / "p000.jpg").read_bytes())
        for tree, repo in _trees():  # untimed: writes each tree's bytecode
            warm = subprocess.run([sys.executable, "-m", "engine", "batch", "wear-mask", "--input", str(work / "one"),
                                   "--output", str(work / f"warm_{tree}"), "--workers", "2"],
                                  capture_output=True, text=True, cwd=repo, env=env)
            if warm.returncode != 0:
                doc[f"warm_up_{tree}"] = {"rc": warm.returncode, "error": warm.stderr.strip().splitlines()[-1:]}
        for label, extra in (("auto", []), ("keypoint", ["--method", "keypoint"])):
            for workers in (1, 2):
                for tree, repo in _trees():
                    out = work / f"out_{tree}_{label}_{workers}"
                    load0 = _load()
                    cpu0 = _children_cpu()
                    t0 = time.perf_counter()
                    r = subprocess.run([sys.executable, "-m", "engine", "batch", "wear-mask", "--input",
                                        str(work / "in"), "--output", str(out), "--workers", str(workers), *extra],
                                       capture_output=True, text=True, cwd=repo, env=env)
                    wall = time.perf_counter() - t0
                    cpu = _children_cpu() - cpu0
                    done = len(list(out.glob("*_masked.png")))
                    key = f"{label}_workers_{workers}" + ("" if tree == "current" else "_baseline")
                    doc[key] = {"done": done, "wall_s": round(wall, 2), "images_per_s": round(done / wall, 2),
                                "cpu_s": round(cpu, 2), "images_per_cpu_s": round(done / cpu, 2) if cpu else None,
                                "rc": r.returncode, "load_before": load0, "load_after": _load()}
    a1, a2 = doc["auto_workers_1"]["images_per_s"], doc["auto_workers_2"]["images_per_s"]
    doc["speedup_2_vs_1"] = round(a2 / a1, 3) if a1 else None
    if "auto_workers_2_baseline" in doc:
        doc["vs_baseline"] = {k: round(doc[k]["images_per_s"] / doc[k + "_baseline"]["images_per_s"], 2)
                              for k in ("auto_workers_1", "auto_workers_2", "keypoint_workers_1", "keypoint_workers_2")
                              if doc[k + "_baseline"]["images_per_s"]}
    doc["targets"] = {"images_per_s": TARGET_IMAGES_PER_S, "pass": a2 >= TARGET_IMAGES_PER_S,
                      "two_not_slower": a2 >= a1}
    return doc


def batch300(images: int = 300) -> dict[str, Any]:
    """``run_batch`` (this process starts the pool) on 300 256² astronaut variants, 1 and 2 workers;
    with :data:`BASELINE_ENV` set, the baseline tree's ``batch300`` runs in a child process between
    these (same inputs)."""
    import json
    import subprocess
    import sys

    from engine.batch import JobSpec, run_batch

    doc: dict[str, Any] = {}
    trees = _trees()
    with tempfile.TemporaryDirectory(prefix="masquerade-bench-mw-") as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        _inputs(work / "in", images)
        for workers in (1, 2):
            load0 = _load()
            t0 = time.perf_counter()
            s = run_batch(JobSpec("wear-mask", work / "in", work / f"out{workers}", params={"size": 144},
                                  workers=workers))
            wall = time.perf_counter() - t0
            doc[f"batch_workers_{workers}"] = {"faces": s.done, "failed": s.failed, "wall_s": round(wall, 2),
                                               "faces_per_s": round(s.done / wall, 2), "load_before": load0,
                                               "load_after": _load()}
            for tree, repo in trees[1:]:
                code = (f"import json; from engine.batch import JobSpec, run_batch; import time, os; from pathlib import Path\n"
                        f"l0 = round(os.getloadavg()[0], 2); t0 = time.perf_counter()\n"
                        f"s = run_batch(JobSpec('wear-mask', Path({str(work / 'in')!r}), Path({str(work / f'{tree}{workers}')!r}), "
                        f"params={{'size': 144}}, workers={workers}))\n"
                        f"w = time.perf_counter() - t0\n"
                        f"print(json.dumps({{'faces': s.done, 'failed': s.failed, 'wall_s': round(w, 2), "
                        f"'faces_per_s': round(s.done / w, 2), 'load_before': l0, 'load_after': round(os.getloadavg()[0], 2)}}))")
                r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo)
                lines = r.stdout.strip().splitlines()
                doc[f"batch_workers_{workers}_{tree}"] = json.loads(lines[-1]) if r.returncode == 0 and lines \
                    else {"rc": r.returncode, "error": r.stderr.strip().splitlines()[-1:]}
    return doc


def run(images: int = 300) -> dict[str, Any]:
    """The ``maskwear`` section of the bench JSON."""
    doc: dict[str, Any] = {"fit_512": _fit_ms(), "identity_vs_input": _identity(), "coverage": coverage(),
                           "white_on_skin": white_on_skin(), "photos512": photos512(), **batch300(images)}
    one, two = doc["batch_workers_1"]["faces_per_s"], doc["batch_workers_2"]["faces_per_s"]
    doc["speedup_2_vs_1"] = round(two / one, 3) if one else None
    doc["targets"] = {"fit_ms": TARGET_FIT_MS, "fit_pass": doc["fit_512"]["median_ms"] <= TARGET_FIT_MS,
                      "faces_per_s": TARGET_FACES_PER_S, "throughput_pass": max(one, two) >= TARGET_FACES_PER_S}
    return doc


def table(doc: dict[str, Any]) -> list[str]:
    f = doc["fit_512"]
    rows = [f"mask-wear fit 512² (after analysis): {f['median_ms']:.1f} ms median "
            f"({'PASS' if doc['targets']['fit_pass'] else 'FAIL'} ≤ {doc['targets']['fit_ms']:.0f} ms)"]
    for w in (1, 2):
        b = doc[f"batch_workers_{w}"]
        rows.append(f"  wear-mask dataset, {w} worker(s): {b['faces_per_s']:.1f} faces/s ({b['faces']} faces, {b['wall_s']} s)")
    for method in ("keypoint", "auto"):
        r = doc.get("identity_vs_input", {}).get(method, {})
        if r.get("identity_distance") is not None:
            rows.append(f"  identity distance input → masked ({method}): {r['identity_distance']:.3f} mean, "
                        f"same person (< 0.6) {r['same_person_rate']:.0%} of {r['pairs']}")
    rows.append(f"  2 vs 1 workers ×{doc['speedup_2_vs_1']} · target ≥ {doc['targets']['faces_per_s']:.0f} faces/s: "
                f"{'PASS' if doc['targets']['throughput_pass'] else 'FAIL'}")
    cov = doc.get("coverage", {})
    for t, methods in cov.get("templates", {}).items():
        for m, v in methods.items():
            rows.append(f"  coverage {t} ({m}): lips+mouth {v['lips_mouth']:.3f} nose {v['nose']:.3f} eyes {v['eyes']:.4f} "
                        f"bg+hair {v['background_hair']:.3f} neck {v['neck']:.3f}")
    for k in (90, 180, 270):
        v = cov.get(f"rotated_{k}")
        if v:
            rows.append(f"  turned {k}°: lips+mouth {v['lips_mouth']:.3f} nose {v['nose']:.3f} eyes {v['eyes']:.4f} "
                        f"neck {v['neck']:.3f}")
    w = doc.get("white_on_skin")
    if w:
        rows.append(f"  white mask on light / dark skin: {w['mask_on_light']} / {w['mask_on_dark']} "
                    f"(ratio {w['ratio_dark_to_light']})")
    p5 = doc.get("photos512")
    if p5:
        rows.append(f"  batch wear-mask, {p5['images']} 512-px photos (start-up included): "
                    f"1 worker {p5['auto_workers_1']['images_per_s']} img/s, 2 workers {p5['auto_workers_2']['images_per_s']} "
                    f"img/s; keypoint fit {p5['keypoint_workers_1']['images_per_s']} / "
                    f"{p5['keypoint_workers_2']['images_per_s']} · target ≥ {p5['targets']['images_per_s']:.0f}: "
                    f"{'PASS' if p5['targets']['pass'] else 'FAIL'}")
    return rows


SHEET_TEMPLATES = ("mtf-surgical", "surgical-blue", "kn95", "cloth-checkered")
"""The sheet's drawn / photographed templates; a last column wears a template made from a real
masked development photo (never shipped: their licence is unknown)."""

SHEET_OUT = Path(__file__).resolve().parents[1] / "runs" / "bench_maskwear_sheet.png"
"""Where :func:`sheet` writes (``runs/`` is not committed)."""


def sheet(out: Path = SHEET_OUT, rows: int = 12, cell: int = 160) -> dict[str, Any]:
    """A contact sheet: ``rows`` development photos (the most turned heads of the dev photos and of
    the MT makeup photos first, two of them turned by 90° and 180°) × (photo, each of
    :data:`SHEET_TEMPLATES`, a template made from the first real masked photo it can be made from),
    fitted by the window's path (``put_mask``, method ``auto``) on the whole photo and shown as
    the face's aligned crop. Returns what was drawn."""
    from engine.errors import NoFaceError
    from engine.faces import FaceAnalyzer
    from engine.faces.align import align_face
    from engine.imageio import load_image, save_image
    from engine.studios.maskwear.classical import face_yaw
    from engine.studios.maskwear.editor import put_mask
    from engine.studios.maskwear.from_photo import template_from_photo
    from engine.studios.maskwear.params import MaskWearParams

    photos = sorted((SHARED / "faces" / "photos").glob("*.jpg")) + sorted((SHARED / "makeup" / "mt").rglob("*.jpg"))
    masked = sorted(REAL_MASKED.glob("*.jpg"))
    if not photos or not masked:
        return {"skipped": "no ../shared/data/faces/photos or maskwear/real_masked"}
    analyzer = FaceAnalyzer(parser="geometric")
    made, made_from = None, None
    for p in masked[:40]:
        img = load_image(p)
        faces = analyzer.analyze(img, parse=False).faces
        try:
            made = template_from_photo(img, faces[0]) if faces else None
        except NoFaceError:
            made = None
        if made is not None:
            made_from = p.name
            break
    found = []
    for p in photos:
        img = load_image(p)
        faces = analyzer.analyze(img, parse=False).faces
        if faces:
            found.append((abs(face_yaw(faces[0])), p, img))
    found.sort(key=lambda t: -t[0])
    chosen = found[: rows // 2] + found[len(found) // 2: len(found) // 2 + rows - rows // 2]
    lines, doc_rows = [], []
    for i, (yaw, p, img) in enumerate(chosen[:rows]):
        turn = 1 if i == rows - 2 else 2 if i == rows - 1 else 0
        img = np.ascontiguousarray(np.rot90(img, turn))
        res = analyzer.analyze(img, parse=False)
        face = res.faces[0]
        crop = align_face(img, face.keypoints, cell, scale=1.2)
        cells = [crop.image]
        for t in (*SHEET_TEMPLATES, "made"):
            params = MaskWearParams(template="surgical-blue" if t == "made" else t, faces="largest",
                                    user_template=made if t == "made" else None)
            out_img, _, _ = put_mask(img, res.faces, params)
            cells.append(cv2.warpAffine(out_img, crop.matrix, (cell, cell), flags=cv2.INTER_AREA,
                                        borderMode=cv2.BORDER_REFLECT))
        lines.append(np.concatenate(cells, 1))
        doc_rows.append({"photo": str(p.relative_to(SHARED)), "yaw": round(float(yaw), 3),
                         "rotation_found": res.info["rotation"], "turned_by": 90 * turn})
    out.parent.mkdir(parents=True, exist_ok=True)
    save_image(out, np.concatenate(lines, 0))
    return {"out": str(out), "columns": ["photo", *SHEET_TEMPLATES, f"made from {made_from}"], "rows": doc_rows}


SECTION_FUNCS = {"fit": _fit_ms, "coverage": coverage, "orientation": orientation,
                 "orientation_heldout": orientation_heldout, "white": white_on_skin, "recall": recall,
                 "photos512": photos512, "batch300": batch300, "identity": _identity, "sheet": sheet}


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.maskwear --sections coverage,white --out FILE``: single sections as JSON."""
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m bench.maskwear")
    ap.add_argument("--sections", default="coverage,white,recall,photos512",
                    help=f"comma list of {', '.join(SECTION_FUNCS)}")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    doc: dict[str, Any] = {}
    for name in args.sections.split(","):
        if name not in SECTION_FUNCS:
            ap.error(f"unknown section {name!r}")
        t0 = time.perf_counter()
        doc[name] = SECTION_FUNCS[name]()
        doc[name + "_bench_s"] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {json.dumps(doc[name])}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
