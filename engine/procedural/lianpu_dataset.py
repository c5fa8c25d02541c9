"""``masquerade batch opera-dataset``: procedural lianpu as (colour, line art, region map) triples.

A procedural batch op (registered by :mod:`engine.studios.opera.batch`; see
:mod:`engine.batch.ops`): one task per seed writes

* ``seed<N>_colour.png`` — RGB design on white paper,
* ``seed<N>_lineart.png`` — grey line art (255 paper, 0 contour),
* ``seed<N>_regions.png`` — grey part labels (indices into
  :data:`engine.procedural.lianpu.LIANPU_PARTS`),

plus the opera paper's augmentations as options: ``mirror`` (the triple flipped left-right;
the generator's designs are symmetric, so this only matters for the sub-pixel asymmetries of
the rasteriser — it is there to build the same augmented set the paper trains on) and
``recolour`` = K (K more triples of the same shapes painted with other palettes: colour change,
the line art and region map are the same design's).

``types`` chooses the composition: the nine role types of :data:`engine.procedural.lianpu.ROLE_TYPES`
in equal shares (``--types all``) or some of them (``--types zheng,shizimen``); without it, the
classic template.

Example::

    masquerade batch opera-dataset --count 100 --output data/lianpu --size 256 --recolour 2 --types all
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from engine.labels import OPERA_COLOURS

KINDS = ("colour", "lineart", "regions")
"""The three images of a design, in output order."""

MAX_RECOLOUR = 8
"""Most colour-changed copies per seed."""

_DEFAULTS: dict[str, Any] = {"size": 256, "colour": None, "mirror": False, "recolour": 0, "types": None}


def parse_types(value: Any) -> list[str] | None:
    """Role types of a dataset: ``None`` (the classic template), ``"all"``, a comma-separated
    string or a list of keys of :data:`engine.procedural.lianpu.ROLE_TYPES`.

    Args:
        value: what the user gave.

    Returns:
        The role keys in the given order (duplicates dropped), or ``None``.

    Raises:
        ValueError: an unknown role type or an empty list.
    """
    from engine.procedural.lianpu import ROLE_KEYS

    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(v).strip() for v in items if str(v).strip()]
    if names == ["all"]:
        return list(ROLE_KEYS)
    unknown = [n for n in names if n not in ROLE_KEYS]
    if unknown or not names:
        raise ValueError(f"unknown role type(s) {', '.join(unknown) or '(none given)'}; known: all, {', '.join(ROLE_KEYS)}")
    return list(dict.fromkeys(names))


def dataset_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and complete the ``opera-dataset`` parameters.

    Args:
        params: any of ``size`` (64–4096 pixels, default 256), ``colour`` (a main colour of
            :data:`engine.labels.OPERA_COLOURS` forced on every design, ``None`` = drawn per seed),
            ``mirror`` (bool: add the mirrored triple), ``recolour`` (0–8 colour-changed triples),
            ``types`` (role types, :func:`parse_types`; seed N draws type ``types[N % len(types)]``,
            so the types come in equal shares; ``None`` = the classic template).

    Returns:
        The complete, JSON-serialisable parameter dict (``types`` only when given).

    Raises:
        ValueError: unknown names or out-of-range values.
    """
    unknown = set(params) - set(_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown opera-dataset parameter(s): {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(_DEFAULTS))}")
    p = {**_DEFAULTS, **params}
    try:
        size = int(p["size"])
        recolour = int(p["recolour"])
    except (TypeError, ValueError):
        raise ValueError(f"size and recolour must be whole numbers, got {p['size']!r}, {p['recolour']!r}") from None
    if size != float(p["size"]) or not 64 <= size <= 4096:
        raise ValueError(f"size must be a whole number of pixels in 64–4096, got {p['size']!r}")
    if recolour != float(p["recolour"]) or not 0 <= recolour <= MAX_RECOLOUR:
        raise ValueError(f"recolour must be 0–{MAX_RECOLOUR} copies, got {p['recolour']!r}")
    colour = p["colour"]
    if colour is not None and colour not in OPERA_COLOURS:
        raise ValueError(f"colour must be one of {', '.join(OPERA_COLOURS)}, got {colour!r}")
    mirror = p["mirror"]
    if isinstance(mirror, str):
        if mirror.lower() not in ("0", "1", "true", "false", "yes", "no"):
            raise ValueError(f"mirror must be true or false, got {mirror!r}")
        mirror = mirror.lower() in ("1", "true", "yes")
    out: dict[str, Any] = {"size": size, "colour": colour, "mirror": bool(mirror), "recolour": recolour}
    types = parse_types(p["types"])
    if types is not None:  # absent for the classic template: earlier jobs' manifests resume unchanged
        out["types"] = types
    return out


def seed_role(seed: int, params: Mapping[str, Any]) -> str | None:
    """The role type design ``seed`` is drawn with (``None``: the classic template).

    Args:
        seed: design seed.
        params: normalised parameters (:func:`dataset_params`).

    Returns:
        A key of :data:`engine.procedural.lianpu.ROLE_TYPES` or ``None``.
    """
    types = params.get("types")
    return None if not types else str(types[int(seed) % len(types)])


def _variants(params: Mapping[str, Any]) -> list[str]:
    return [""] + (["mirror"] if params["mirror"] else []) + [f"recolour{k}" for k in range(1, params["recolour"] + 1)]


def dataset_output_names(params: Mapping[str, Any]) -> list[str]:
    """Names of the files one seed writes: ``colour, lineart, regions`` then per augmentation
    ``<aug>_colour, <aug>_lineart, <aug>_regions``.

    Args:
        params: normalised parameters (:func:`dataset_params`).

    Returns:
        The names, in order.
    """
    return [f"{v}_{k}" if v else k for v in _variants(params) for k in KINDS]


def recolour_seed(seed: int, k: int) -> int:
    """Palette seed of the ``k``-th colour-changed copy of design ``seed`` (stable, ≥ 0).

    Args:
        seed: design seed.
        k: copy number (1, 2 ...).

    Returns:
        The colour seed.
    """
    return (int(seed) * 1_000_003 + 7_919 * int(k) + 17) % (2 ** 31 - 1)


def dataset_images(seed: int, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """All images of one seed, keyed by :func:`dataset_output_names`.

    Args:
        seed: design seed (≥ 0).
        params: normalised parameters (:func:`dataset_params`).

    Returns:
        ``{name: uint8 image}``: colour ``[S, S, 3]``, line art and regions ``[S, S]``.
    """
    from engine.procedural.lianpu import generate_lianpu

    size, colour, role = params["size"], params["colour"], seed_role(seed, params)
    base = generate_lianpu(seed, colour, size, role=role)
    triple = {"colour": base.image, "lineart": base.line_art, "regions": base.regions}
    out: dict[str, np.ndarray] = dict(triple)
    if params["mirror"]:
        out.update({f"mirror_{k}": np.ascontiguousarray(v[:, ::-1]) for k, v in triple.items()})
    for k in range(1, params["recolour"] + 1):
        other = generate_lianpu(seed, None, size, colour_seed=recolour_seed(seed, k), role=role)
        out.update({f"recolour{k}_colour": other.image, f"recolour{k}_lineart": other.line_art,
                    f"recolour{k}_regions": other.regions})
    return out


def dataset_runner() -> Callable[[int, Mapping[str, Any]], dict[str, np.ndarray]]:
    """Per-process factory: the generator needs no state.

    Returns:
        :func:`dataset_images`, the per-seed function.
    """
    return dataset_images


def add_dataset_options(p: argparse.ArgumentParser) -> None:
    """Add the ``batch opera-dataset`` options (besides the common ``--count/--output/...``).

    Args:
        p: the ``batch opera-dataset`` parser.
    """
    p.add_argument("--size", type=int, default=256, help="side of the square designs in pixels (64–4096, default 256)")
    p.add_argument("--color", "--colour", dest="colour", choices=OPERA_COLOURS, default=None,
                   help="force this main colour on every design (default: drawn per seed)")
    p.add_argument("--mirror", action="store_true", help="augmentation: also write each triple mirrored left-right")
    p.add_argument("--recolour", "--recolor", dest="recolour", type=int, default=0, metavar="K",
                   help=f"augmentation: also write K colour-changed triples per seed (0–{MAX_RECOLOUR})")
    p.add_argument("--types", default=None, metavar="ROLES",
                   help="role types, comma-separated (zheng, sankuaiwa, shizimen, liufen, suihua, wai, yuanbao, "
                        "xiangxing, sengdao) or 'all': seed N takes the (N mod count)-th; default: the classic template")


def dataset_base(args: argparse.Namespace) -> dict[str, Any]:
    """Base parameters from the parsed ``batch opera-dataset`` options.

    Args:
        args: the options :func:`add_dataset_options` added, parsed.

    Returns:
        The validated parameters (:func:`dataset_params`).

    Raises:
        ValueError: a value out of range.
    """
    return dataset_params({"size": args.size, "colour": args.colour, "mirror": args.mirror,
                           "recolour": args.recolour, "types": getattr(args, "types", None)})
