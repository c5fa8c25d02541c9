"""The model card: architecture + kwargs, provenance, hash and the measured verdict, as JSON."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Union

from engine.errors import CheckpointError

PathLike = Union[str, "os.PathLike[str]"]

CARD_SCHEMA_VERSION: int = 1
"""Version of the card layout this build writes and reads."""

WEIGHTS_SUFFIX = ".safetensors"
CARD_SUFFIX = ".json"







# -- card ----------------------------------------------------------------------------------------

LEGACY_VERDICT_FLAGS: dict[str, str] = {"better_than_classical": "classical", "better_than_keypoint": "keypoint"}
"""Flags older cards kept in ``extra`` before :class:`Verdict` existed → the engine they name."""


@dataclass(frozen=True)
class Verdict:
    """What a learned model was measured against, and whether it won.

    ``auto`` backends use a learned model only when ``better`` is true.

    Args:
        compared_with: the engine it was measured against, e.g. ``"classical"`` or ``"keypoint"``.
        measure: the held-out measure, in words (data, metric, resolution).
        better: it measured better than ``compared_with`` on ``measure``.
    """

    compared_with: str
    measure: str
    better: bool

    @classmethod
    def from_dict(cls, data: Any, source: str = "card") -> Verdict:
        """Validate the card's ``verdict`` object.

        Raises:
            CheckpointError: not an object with a string ``compared_with`` / ``measure`` and a
                boolean ``better``.
        """
        if not isinstance(data, dict) or set(data) != {"compared_with", "measure", "better"}:
            raise CheckpointError(f"{source}: card field 'verdict' must hold compared_with, measure and better")
        if not (isinstance(data["compared_with"], str) and isinstance(data["measure"], str)
                and isinstance(data["better"], bool)):
            raise CheckpointError(f"{source}: card field 'verdict' has the wrong types")
        return cls(data["compared_with"], data["measure"], data["better"])

    @classmethod
    def from_legacy(cls, extra: dict[str, Any]) -> Verdict | None:
        """The verdict an older card recorded as a flag in ``extra`` (``None`` when it has none)."""
        for flag, engine in LEGACY_VERDICT_FLAGS.items():
            if flag in extra:
                measure = extra.get("eval_protocol") or extra.get("better_rule") or f"extra.{flag}"
                return cls(engine, str(measure), extra[flag] is True)
        return None


@dataclass(kw_only=True)
class ModelCard:
    """Everything needed to rebuild a model and judge where it came from; stored as JSON.

    Args:
        schema_version: card layout version (:data:`CARD_SCHEMA_VERSION`).
        model: registry key of the architecture.
        kwargs: constructor arguments of the architecture.
        task: studio or job the model serves, e.g. ``"opera"``, ``"makeup"``, ``"parsing"``.
        input_size: ``(height, width)`` the model was trained at, or ``None`` if size-agnostic.
        label_scheme: name in :data:`engine.labels.SCHEMES` for models that read or emit label
            maps, else ``None``.
        training_data: free text: data sets used, how they were made or obtained.
        licence: free text: licence of the weights and of the data they were trained on.
        metrics: measured numbers, e.g. ``{"fid": 23.1, "miou": 0.71}``; may be empty.
        created: ISO-8601 UTC time the checkpoint was written.
        torch_version: ``torch.__version__`` that wrote it.
        weights: file name of the safetensors file, in the card's folder.
        sha256: hex SHA-256 of the weights file.
        weights_size: size of the weights file in bytes.
        tensor_count: number of tensors in the state_dict.
        parameter_count: number of parameter elements, trainable or not (buffers excluded).
        extra: any further facts (training steps, config, notes).
        verdict: how it measured against its classical twin (:class:`Verdict`); ``None`` when
            never compared. Older cards' ``extra`` flags are read into it.
    """

    schema_version: int = CARD_SCHEMA_VERSION
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    task: str = ""
    input_size: tuple[int, int] | None = None
    label_scheme: str | None = None
    training_data: str = ""
    licence: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    created: str = ""
    torch_version: str = ""
    weights: str
    sha256: str
    weights_size: int = 0
    tensor_count: int = 0
    parameter_count: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict | None = None

    @property
    def better(self) -> bool:
        """The card's verdict says it measured better than its classical twin."""
        return self.verdict is not None and self.verdict.better

    def to_json(self) -> str:
        """Indented JSON text in field order (strict JSON: NaN/inf are refused).

        Raises:
            CheckpointError: a field (``kwargs``, ``metrics``, ``extra``) holds something JSON
                cannot represent.
        """
        try:
            return json.dumps(asdict(self), indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"card for {self.model!r} is not JSON-serialisable: {exc}") from None

    @classmethod
    def from_dict(cls, data: Any, source: str = "card") -> ModelCard:
        """Validate and build a card from parsed JSON.

        Args:
            data: the parsed JSON object.
            source: where it came from, for error messages (usually the card path).

        Raises:
            CheckpointError: not an object, unsupported schema version, unknown or missing
                fields, or fields of the wrong type.
        """
        if not isinstance(data, dict):
            raise CheckpointError(f"{source}: card must be a JSON object")
        version = data.get("schema_version")
        if type(version) is not int or version != CARD_SCHEMA_VERSION:
            raise CheckpointError(
                f"{source}: card schema version {version!r} not supported (expected {CARD_SCHEMA_VERSION})"
            )
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise CheckpointError(f"{source}: unknown card fields {unknown} (put free-form facts in 'extra')")
        data = {k: v for k, v in data.items() if v is not None}  # null means "default"
        missing = sorted(n for n in ("model", "weights", "sha256") if n not in data)
        if missing:
            raise CheckpointError(f"{source}: card lacks required fields {missing}")
        for name, kind in _FIELD_TYPES.items():
            value = data.get(name)
            if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is int)):
                raise CheckpointError(f"{source}: card field {name!r} has the wrong type ({type(value).__name__})")
        if not re.fullmatch(r"[0-9a-f]{64}", data["sha256"]):
            raise CheckpointError(f"{source}: card field 'sha256' is not a hex SHA-256 digest")
        if Path(data["weights"]).name != data["weights"] or data["weights"] in ("", ".", ".."):
            raise CheckpointError(f"{source}: card field 'weights' must be a bare file name")
        size = data.get("input_size")
        if size is not None:
            if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
                raise CheckpointError(f"{source}: card field 'input_size' must be [height, width]")
            data = {**data, "input_size": tuple(size)}
        if "verdict" in data:
            data = {**data, "verdict": Verdict.from_dict(data["verdict"], source)}
        else:
            data = {**data, "verdict": Verdict.from_legacy(data.get("extra", {}))}
        return cls(**data)


_FIELD_TYPES: dict[str, type] = {
    "model": str, "kwargs": dict, "task": str, "input_size": list, "label_scheme": str,
    "training_data": str, "licence": str, "metrics": dict, "created": str, "torch_version": str,
    "weights": str, "sha256": str, "weights_size": int, "tensor_count": int,
    "parameter_count": int, "extra": dict, "verdict": dict,
}  # JSON types of the card fields; ``null`` is accepted for every one and means "default"


def card_path_for(path: PathLike) -> Path:
    """The card of a checkpoint given its card, its weights file or its stem.

    ``x.json`` → itself; ``x.safetensors`` → ``x.json``; ``x`` (any other name, dots allowed)
    → ``x.json`` beside it.
    """
    p = Path(path)
    if p.suffix == CARD_SUFFIX:
        return p
    if p.suffix == WEIGHTS_SUFFIX:
        return p.with_suffix(CARD_SUFFIX)
    return p.with_name(p.name + CARD_SUFFIX)


def read_card(path: PathLike) -> ModelCard:
    """Read and validate a checkpoint's card.

    Args:
        path: card, weights file or stem (see :func:`card_path_for`).

    Returns:
        The validated :class:`ModelCard`.

    Raises:
        CheckpointError: the card is missing, unreadable, not JSON or fails validation.
    """
    card_path = card_path_for(path)
    if not card_path.is_file():
        hint = " (weights without a card cannot be loaded)" if card_path.with_suffix(WEIGHTS_SUFFIX).exists() else ""
        raise CheckpointError(f"{card_path}: checkpoint card not found{hint}")
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{card_path}: unreadable card ({exc})") from None
    return ModelCard.from_dict(data, source=str(card_path))


