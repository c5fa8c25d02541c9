"""The studio registry: every studio package brings its commands and batch ops; engine.cli and
engine.batch keep no studio table; a batch op's own options reach its job."""

from __future__ import annotations

import argparse
import types
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

import engine.batch.ops as ops
from engine.batch.cli import spec_from_args
from engine.cli import build_parser, command_hooks
from engine.studios import registry
from engine.studios.registry import STUDIOS, BatchOp, studio_batch_ops, studio_cli_commands

COMMANDS = {"lineart", "opera", "regenerate", "parse-edit", "makeup", "express", "anime", "wear-mask", "mask-template",
            "batch", "analyze", "weights", "train", "metrics"}
"""Every top-level command of README's "Command line" section (and ``anime``)."""

STUDIO_OPS = {"lineart", "colorize", "opera-dataset", "regenerate", "makeup", "express", "express-procedural",
              "wear-mask"}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"level": int(params.get("level", 1)), "tone": str(params.get("tone", "warm"))}


def _runner() -> Any:
    return lambda image, params: image


def _add_level(p: argparse.ArgumentParser) -> None:
    p.add_argument("--level", type=int, default=3)
    p.add_argument("--tones", default=None)


def _base(args: argparse.Namespace) -> dict[str, Any]:
    return {"level": args.level}


def _grid(args: argparse.Namespace) -> dict[str, list[Any]]:
    return {"tone": args.tones.split(",")} if args.tones else {}


def test_every_studio_exports_its_hooks() -> None:
    assert set(STUDIOS) == {"opera", "regenerate", "makeup", "expression", "maskwear"}
    for studio in STUDIOS:
        cli, batch = registry.studio_module(studio, "cli"), registry.studio_module(studio, "batch")
        assert cli.CLI_COMMANDS and all(callable(hook) for hook in cli.CLI_COMMANDS), studio
        assert batch.BATCH_OPS and all(isinstance(op, BatchOp) for op in batch.BATCH_OPS), studio
    assert {op.name for op in studio_batch_ops()} == STUDIO_OPS
    assert len(studio_cli_commands()) == 7  # opera: lineart + opera; maskwear: wear-mask + mask-template; one each for the three others


def test_unknown_studio_or_part_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown studio 'paint'"):
        registry.studio_module("paint", "cli")
    with pytest.raises(ValueError, match="not 'editor'"):
        registry.studio_module("opera", "editor")


def test_parser_has_every_command_and_every_op() -> None:
    parser = build_parser()
    commands = _subcommands(parser)
    assert set(commands) == COMMANDS
    assert set(_subcommands(commands["batch"])) >= STUDIO_OPS
    assert len(command_hooks()) == len(studio_cli_commands()) + 5  # batch, analyze, weights, train, metrics


def test_batch_ops_come_from_the_studios() -> None:
    assert set(ops.available_ops()) >= STUDIO_OPS
    for op in studio_batch_ops():
        assert ops.get_op(op.name) is op
    with pytest.raises(KeyError, match="unknown batch op 'paint'; known: .*lineart"):
        ops.get_op("paint")


def test_two_studios_with_one_op_name_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    op = BatchOp("same", _runner, _params)
    fake = types.SimpleNamespace(BATCH_OPS=(op,), CLI_COMMANDS=())
    monkeypatch.setattr(registry, "studio_module", lambda studio, part: fake)
    with pytest.raises(ValueError, match="'same' is exported by both opera and regenerate"):
        studio_batch_ops()


def test_batch_op_checks_its_hooks() -> None:
    with pytest.raises(ValueError, match="need add_arguments"):
        BatchOp("x", _runner, _params, params_from_args=_base)
    with pytest.raises(ValueError, match="need add_arguments"):
        BatchOp("x", _runner, _params, grid_from_args=_grid)
    with pytest.raises(ValueError, match="no procedural_variant"):
        BatchOp("x", _runner, _params, source="procedural", output_names=lambda p: ["a"], procedural_variant="y")


def test_an_ops_own_options_reach_its_job(monkeypatch: pytest.MonkeyPatch) -> None:
    op = BatchOp("tone-test", _runner, _params, add_arguments=_add_level, params_from_args=_base,
                 grid_from_args=_grid)
    monkeypatch.setitem(ops._registry(), op.name, op)
    args = build_parser().parse_args(["batch", "tone-test", "--input", "in", "--output", "out", "--level", "5",
                                      "--tones", "warm,cool", "--grid", "level=1,2"])
    spec = spec_from_args(args)
    assert spec.op == "tone-test" and spec.params == {"level": 5}
    assert spec.grid == {"level": [1, 2], "tone": ["warm", "cool"]}
    args = build_parser().parse_args(["batch", "tone-test", "--input", "in", "--output", "out",
                                      "--tones", "warm", "--grid", "tone=cool"])
    with pytest.raises(ValueError, match="--grid tone conflicts with the op's own options"):
        spec_from_args(args)


def test_procedural_variant_runs_the_other_op() -> None:
    args = build_parser().parse_args(["batch", "express", "--procedural", "4", "--output", "out", "--seed-start", "2",
                                      "--size", "128", "--grid", "expression=smile"])
    spec = spec_from_args(args)
    assert (spec.op, spec.input_dir, spec.count, spec.seed_start) == ("express-procedural", None, 4, 2)
    assert spec.params == {"size": 128} and spec.grid == {"expression": ["smile"]}


def test_registered_ops_are_picklable_by_reference() -> None:
    import pickle

    for op in studio_batch_ops():
        assert pickle.loads(pickle.dumps(op)) == op
    image = np.zeros((8, 8, 3), np.uint8)
    assert ops.get_op("lineart").runner()(image, ops.get_op("lineart").normalize({})).shape == (8, 8)
