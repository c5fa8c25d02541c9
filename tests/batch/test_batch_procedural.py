"""Procedural batch source (tasks = seeds): opera-dataset triples, manifest, resume/extend, shards,
cancel, augmentation names, bad specs, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.batch import (
    JOB_NAME,
    MANIFEST_NAME,
    BatchCancelled,
    BatchOp,
    JobSpec,
    get_op,
    plan_job,
    run_batch,
)
from engine.cli import main
from engine.imageio import load_image
from engine.procedural.lianpu import generate_lianpu
from engine.procedural.lianpu_dataset import (
    dataset_output_names,
    dataset_params,
    recolour_seed,
)


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines() if line.strip()]


def spec(out: Path, **kw) -> JobSpec:
    base = dict(params={"size": 64}, count=3)
    base.update(kw)
    return JobSpec("opera-dataset", None, out, **base)


def test_triples_match_the_generator_and_the_manifest_lists_them(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    s = run_batch(spec(out, seed_start=10))
    assert (s.total, s.done, s.failed) == (3, 3, 0)
    recs = records(out)
    assert sorted(r["seed"] for r in recs) == [10, 11, 12]
    for r in recs:
        assert r["input"] == f"seed{r['seed']:06d}" and r["status"] == "done"
        assert set(r["outputs"]) == {"colour", "lineart", "regions"} and r["output"] == r["outputs"]["colour"]
        d = generate_lianpu(r["seed"], None, 64)
        assert np.array_equal(load_image(out / r["outputs"]["colour"]), d.image)
        assert np.array_equal(load_image(out / r["outputs"]["lineart"])[:, :, 0], d.line_art)
        assert np.array_equal(load_image(out / r["outputs"]["regions"])[:, :, 0], d.regions)
    files = {p.name for p in out.glob("*.png")}
    assert len(files) == 9 and "seed000011_lineart.png" in files
    job = json.loads((out / JOB_NAME).read_text())
    assert job["op"] == "opera-dataset" and job["input_dir"] is None and job["params"]["size"] == 64


def test_augmentations_write_mirrored_and_colour_changed_triples(tmp_path: Path) -> None:
    p = dataset_params({"mirror": "true", "recolour": 2, "size": 64})
    assert dataset_output_names(p) == ["colour", "lineart", "regions", "mirror_colour", "mirror_lineart",
                                       "mirror_regions", "recolour1_colour", "recolour1_lineart",
                                       "recolour1_regions", "recolour2_colour", "recolour2_lineart",
                                       "recolour2_regions"]
    out = tmp_path / "aug"
    run_batch(spec(out, count=1, params={"size": 64, "mirror": True, "recolour": 2, "colour": "red"}))
    base = load_image(out / "seed000000_colour.png")
    assert np.array_equal(load_image(out / "seed000000_mirror_colour.png"), base[:, ::-1])
    rec = load_image(out / "seed000000_recolour1_colour.png")
    other = generate_lianpu(0, None, 64, colour_seed=recolour_seed(0, 1))
    assert np.array_equal(rec, other.image) and not np.array_equal(rec, base)
    # colour change keeps the shapes: same line art and regions
    assert np.array_equal(load_image(out / "seed000000_recolour1_lineart.png"), load_image(out / "seed000000_lineart.png"))
    assert generate_lianpu(0, "red", 64).colour == "red"


def test_resume_extends_and_redoes_a_task_with_a_missing_file(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    run_batch(spec(out))
    s = run_batch(spec(out, count=5))  # larger count: same job, two more seeds
    assert (s.done, s.skipped) == (2, 3)
    (out / "seed000001_regions.png").unlink()
    s = run_batch(spec(out, count=5))
    assert (s.done, s.skipped) == (1, 4)
    assert (out / "seed000001_regions.png").is_file()
    ids = [r["id"] for r in records(out)]
    assert len(set(ids)) == 5


def test_shards_cover_every_seed_once_and_grid_tags_names(tmp_path: Path) -> None:
    op = get_op("opera-dataset")
    full = spec(tmp_path / "x", count=20, grid={"colour": ["red", "blue"]})
    all_ids = {t.id for t in plan_job(full, op).tasks}
    assert len(all_ids) == 40
    parts = [{t.id for t in plan_job(JobSpec("opera-dataset", None, tmp_path / "x", params={"size": 64}, count=20,
                                             grid={"colour": ["red", "blue"]}, shard=(i, 3)), op).tasks}
             for i in range(3)]
    assert set().union(*parts) == all_ids and sum(len(p) for p in parts) == 40
    names = {o for t in plan_job(full, op).tasks for o in t.output_paths}
    assert "seed000003__colourblue_lineart.png" in names and len(names) == 120


def test_two_workers_and_cancel(tmp_path: Path) -> None:
    out = tmp_path / "w2"
    s = run_batch(spec(out, count=4, workers=2))
    assert s.done == 4 and len(list(out.glob("*.png"))) == 12
    out2 = tmp_path / "cancel"
    from engine.cancel import CancelToken

    token = CancelToken()

    def progress(p) -> None:
        if p.done >= 2:
            token.cancel()

    with pytest.raises(BatchCancelled) as exc:
        run_batch(spec(out2, count=6), progress, token)
    done = [r for r in records(out2) if r["status"] == "done"]
    assert exc.value.summary.done == len(done) == 2
    for r in done:
        assert all((out2 / f).is_file() for f in r["outputs"].values())


@pytest.mark.parametrize("kw, match", [
    (dict(count=None), "needs a count"),
    (dict(params={"size": 10}), "size"),
    (dict(params={"recolour": 99}), "recolour"),
    (dict(params={"colour": "pink"}), "colour"),
    (dict(params={"sise": 64}), "unknown"),
])
def test_bad_procedural_specs_are_refused_before_writing(tmp_path: Path, kw: dict, match: str) -> None:
    out = tmp_path / "bad"
    with pytest.raises(ValueError, match=match):
        run_batch(spec(out, **kw))
    assert not (out / MANIFEST_NAME).exists()


def test_input_folder_and_count_belong_to_their_sources(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="count, not an input folder"):
        run_batch(JobSpec("opera-dataset", tmp_path, tmp_path / "o", count=2))
    with pytest.raises(ValueError, match="count is for procedural"):
        run_batch(JobSpec("lineart", tmp_path, tmp_path / "o", count=2))
    with pytest.raises(ValueError, match="count must be"):
        JobSpec("opera-dataset", None, tmp_path / "o", count=0)
    with pytest.raises(ValueError, match="output_names"):
        BatchOp("x", dict, dict, source="procedural")
    with pytest.raises(ValueError, match="source"):
        BatchOp("x", dict, dict, source="web")


def test_cli_opera_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["batch", "opera-dataset", "--count", "2", "--seed-start", "5", "--output", str(out),
                 "--size", "64", "--recolour", "1", "--color", "green"]) == 0
    assert "2 done" in capsys.readouterr().out
    assert (out / "seed000006_recolour1_regions.png").is_file()
    assert records(out)[0]["params"] == {"colour": "green", "mirror": False, "recolour": 1, "size": 64}
    with pytest.raises(SystemExit):
        main(["batch", "opera-dataset", "--input", str(tmp_path), "--output", str(out)])
