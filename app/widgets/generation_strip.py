"""Generation strip: sample lianpu designs from the trained StyleGAN2 generator.

Controls: seed A (spin box + *Random*), truncation ψ, a second seed B used either for **style
mixing** (coarse layout from A, finer shapes and colour from B, split at the *crossover* style
input) or for **interpolation** (the point ``t`` on the line between A's and B's styles). The strip
shows six consecutive seeds ``A, A+1, …, A+5`` rendered with the current ψ and mode (B and the
crossover / t stay fixed), so one glance compares neighbours of a seed.

Clicking a thumbnail emits :attr:`GenerationStrip.chosen` with the full-resolution sample: the
Opera panel adds it to the reference gallery and colours the sketch from it — a generated design is
an *exemplar* to take colours from, exactly like the procedural "Generate" button's designs (and
*Trace into sketch* then turns it into line art to draw over).

The generator is looked up and loaded in the engine worker; sampling runs there too (newest request
wins, thumbnails arrive one by one, each request with its own result callback), so dragging a
slider never freezes the window. When no trained
generator exists the strip says why and stays disabled: random weights are never shown.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.qt_image import to_qimage
from app.worker import OnError, OnResult
from engine.cancel import CancelToken

LOAD = "opera.gan.load"
SAMPLE = "opera.gan.sample"
STRIP_COUNT = 6
"""Thumbnails in the strip (consecutive seeds)."""
THUMB = 88
MAX_SEED = 2**31 - 1
MODES = ("single", "mix", "interpolate")

Loader = Callable[[], tuple[Any | None, str]]
Submit = Callable[[str, Callable[[CancelToken], Any], OnResult, OnError], int]
"""Sends a job to the engine worker: ``submit(channel, job, on_result, on_error) -> generation``
(``StudioPanel.submit``)."""


def default_loader() -> tuple[Any | None, str]:
    """The shipped generator (engine work: called inside a worker job)."""
    from engine.studios.opera.generate import load_lianpu_generator

    return load_lianpu_generator()


@dataclass(frozen=True)
class SampleSettings:
    """What one strip request renders.

    Args:
        seed: seed A (the strip shows ``seed … seed + count - 1``).
        psi: truncation ψ (1 = none).
        mode: ``"single"``, ``"mix"`` (style mixing with ``seed_b``) or ``"interpolate"``.
        seed_b: the second seed.
        crossover: style inputs taken from A in ``"mix"`` mode (1 … num_layers − 1).
        t: position between A (0) and B (1) in ``"interpolate"`` mode.
        count: number of thumbnails.
    """

    seed: int
    psi: float
    mode: str = "single"
    seed_b: int = 1
    crossover: int = 1
    t: float = 0.5
    count: int = STRIP_COUNT

    def render(self, generator: Any, seed: int) -> np.ndarray:
        """The sample for ``seed`` (in place of seed A) under these settings."""
        if self.mode == "mix":
            return generator.mix(seed, self.seed_b, self.crossover, psi=self.psi)
        if self.mode == "interpolate":
            return generator.interpolate(seed, self.seed_b, self.t, psi=self.psi)
        return generator.generate(seed, psi=self.psi)

    def describe(self, seed: int) -> tuple[str, str]:
        """``(gallery key, label)`` of the sample of ``seed``."""
        if self.mode == "mix":
            return (f"gan:{seed}x{self.seed_b}@{self.crossover}:psi{self.psi:.2f}",
                    f"GAN {seed}×{self.seed_b}/{self.crossover}")
        if self.mode == "interpolate":
            return (f"gan:{seed}~{self.seed_b}@{self.t:.2f}:psi{self.psi:.2f}",
                    f"GAN {seed}→{self.seed_b} {self.t:.2f}")
        return f"gan:{seed}:psi{self.psi:.2f}", f"GAN #{seed}"


@dataclass(frozen=True)
class Sample:
    """One generated design.

    Args:
        seed: the seed in place of A.
        key: gallery key.
        label: short text.
        image: ``uint8`` RGB ``[R, R, 3]`` at the generator's resolution.
    """

    seed: int
    key: str
    label: str
    image: np.ndarray


def _slider_row(grid: QGridLayout, row: int, name: str, span: tuple[int, int], value: int, text: str,
                tip: str) -> tuple[QSlider, QLabel]:
    """A "name | slider | value" row of ``grid``: the slider (``span``, ``value``, tool tip) and
    its value label (showing ``text``)."""
    grid.addWidget(QLabel(name), row, 0)
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(*span)
    slider.setValue(value)
    slider.setToolTip(tip)
    label = QLabel(text)
    grid.addWidget(slider, row, 1)
    grid.addWidget(label, row, 2)
    return slider, label


class GenerationStrip(QGroupBox):
    """Seed / ψ / mixing / interpolation controls and a strip of generated thumbnails.

    Args:
        submit: sends a job with its callbacks to the engine worker (see :data:`Submit`).
        loader: returns ``(generator or None, reason)``; called inside a worker job (default:
            :func:`default_loader`, looked up when :meth:`load` runs).
        parent: Qt parent.

    Signals:
        chosen(object): a :class:`Sample` the user clicked.
    """

    chosen = Signal(object)

    def __init__(self, submit: Submit, loader: Loader | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Learned generator (StyleGAN2)", parent)
        self.setObjectName("opera_generation_strip")
        self._submit = submit
        self.loader = loader
        self.generator: Any | None = None
        self.reason = ""
        self.warning: str | None = None
        """The loaded generator's ``quality_warning`` (``None`` = usable)."""
        self.samples: list[Sample] = []
        self._load_started = False
        self._build()
        self._set_controls_enabled(False)
        self.status.setText("Looking for a trained generator…")

    # -- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        self.status = QLabel("")
        self.status.setObjectName("gan_status")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #555;")
        lay.addWidget(self.status)
        self.demo_check = QCheckBox("Show demo-quality samples anyway")
        self.demo_check.setObjectName("gan_demo_check")
        self.demo_check.setToolTip("The trained generator's card says its samples are not usable designs yet; "
                                   "tick to look at them (research view)")
        self.demo_check.setVisible(False)
        self.demo_check.toggled.connect(self._demo_toggled)
        lay.addWidget(self.demo_check)
        g = QGridLayout()
        g.addWidget(QLabel("Seed"), 0, 0)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, MAX_SEED - STRIP_COUNT)
        self.seed_spin.setValue(0)
        self.seed_spin.setToolTip("Seed A: the strip shows this seed and the next ones")
        self.random_button = QPushButton("Random")
        self.random_button.setToolTip("A random seed A")
        self.random_button.clicked.connect(self.random_seed)
        g.addWidget(self.seed_spin, 0, 1)
        g.addWidget(self.random_button, 0, 2)
        self.psi_slider, self.psi_label = _slider_row(
            g, 1, "ψ", (0, 100), 70, "0.70",
            "Truncation ψ: lower = closer to the average design (safer), 1 = full variety")

        modes = QHBoxLayout()
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QRadioButton] = {}
        for i, (mode, text, tip) in enumerate((
                ("single", "Seed", "Each thumbnail is one seed"),
                ("mix", "Mix with B", "Style mixing: layout from the seed, finer shapes and colour from seed B"),
                ("interpolate", "Blend to B", "Interpolation: the point t between the seed's and seed B's styles"))):
            b = QRadioButton(text)
            b.setToolTip(tip)
            self.mode_group.addButton(b, i)
            self.mode_buttons[mode] = b
            modes.addWidget(b)
        self.mode_buttons["single"].setChecked(True)
        g.addLayout(modes, 2, 0, 1, 3)
        g.addWidget(QLabel("Seed B"), 3, 0)
        self.seed_b_spin = QSpinBox()
        self.seed_b_spin.setRange(0, MAX_SEED)
        self.seed_b_spin.setValue(1)
        g.addWidget(self.seed_b_spin, 3, 1)
        self.crossover_slider, self.crossover_label = _slider_row(
            g, 4, "Crossover", (1, 1), 1, "1",
            "Style inputs taken from the seed before switching to seed B (low = only the coarse layout is the seed's)")
        self.t_slider, self.t_label = _slider_row(
            g, 5, "t", (0, 100), 50, "0.50", "Interpolation: 0 = the seed, 1 = seed B")
        g.setColumnStretch(1, 1)
        lay.addLayout(g)

        self.strip = QListWidget()
        self.strip.setObjectName("gan_strip")
        self.strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.strip.setIconSize(QSize(THUMB, THUMB))
        self.strip.setGridSize(QSize(THUMB + 10, THUMB + 24))
        self.strip.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.strip.setMovement(QListWidget.Movement.Static)
        self.strip.setWrapping(True)
        self.strip.setMinimumHeight(2 * (THUMB + 24) + 8)
        self.strip.setToolTip("Click a design to colour the sketch from it (it joins the reference gallery)")
        self.strip.itemClicked.connect(self._item_clicked)
        lay.addWidget(self.strip)

        for s in (self.seed_spin, self.seed_b_spin):
            s.valueChanged.connect(lambda _v: self.refresh())
        self.psi_slider.valueChanged.connect(self._slider_moved)
        self.crossover_slider.valueChanged.connect(self._slider_moved)
        self.t_slider.valueChanged.connect(self._slider_moved)
        self.mode_group.idToggled.connect(lambda _i, on: on and self._mode_changed())

    def _demo_toggled(self, on: bool) -> None:
        if self.generator is None:
            return
        self._set_controls_enabled(on)
        if on:
            self.refresh()
        else:
            self.strip.clear()
            self.samples = []

    @property
    def showing_samples(self) -> bool:
        """True when the strip renders samples: a generator is loaded and it is usable (or the
        user asked to see demo-quality samples)."""
        return self.generator is not None and (self.warning is None or self.demo_check.isChecked())

    def _set_controls_enabled(self, on: bool) -> None:
        for w in (self.seed_spin, self.random_button, self.psi_slider, self.strip,
                  *self.mode_buttons.values()):
            w.setEnabled(on)
        self._update_mode_widgets(on)

    def _update_mode_widgets(self, on: bool = True) -> None:
        mode = self.mode()
        self.seed_b_spin.setEnabled(on and mode != "single")
        self.crossover_slider.setEnabled(on and mode == "mix")
        self.t_slider.setEnabled(on and mode == "interpolate")

    # -- state ------------------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        """True once a trained generator is loaded."""
        return self.generator is not None

    def mode(self) -> str:
        return MODES[max(0, self.mode_group.checkedId())]

    def set_mode(self, mode: str) -> None:
        """``"single"``, ``"mix"`` or ``"interpolate"``."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode_buttons[mode].setChecked(True)

    def settings(self) -> SampleSettings:
        """The current controls as a :class:`SampleSettings`."""
        return SampleSettings(seed=self.seed_spin.value(), psi=self.psi_slider.value() / 100.0, mode=self.mode(),
                              seed_b=self.seed_b_spin.value(), crossover=self.crossover_slider.value(),
                              t=self.t_slider.value() / 100.0)

    def random_seed(self) -> None:
        """Jump to a random seed A."""
        self.seed_spin.setValue(random.randrange(0, self.seed_spin.maximum()))

    def _slider_moved(self) -> None:
        self.psi_label.setText(f"{self.psi_slider.value() / 100:.2f}")
        self.crossover_label.setText(str(self.crossover_slider.value()))
        self.t_label.setText(f"{self.t_slider.value() / 100:.2f}")
        self.refresh()

    def _mode_changed(self) -> None:
        self._update_mode_widgets(self.available)
        self.refresh()

    # -- engine -----------------------------------------------------------------------------------
    def load(self) -> None:
        """Look for the trained generator (once, in the worker)."""
        if self._load_started:
            return
        self._load_started = True
        loader = self.loader or default_loader

        def job(token: CancelToken) -> tuple[Any | None, str]:
            return loader()

        self._submit(LOAD, job, self._loaded, self._load_failed)

    def refresh(self) -> None:
        """Render the strip for the current controls (in the worker; newest request wins)."""
        gen = self.generator
        if gen is None or not self.showing_samples:
            return
        s = self.settings()

        def job(token: CancelToken) -> Iterator[list[Sample]]:
            out: list[Sample] = []
            for seed in range(s.seed, s.seed + s.count):
                token.raise_if_cancelled()
                key, label = s.describe(seed)
                out.append(Sample(seed, key, label, s.render(gen, seed)))
                yield list(out)

        self._submit(SAMPLE, job, self._samples_arrived, self._sampling_failed)

    def _loaded(self, value: object) -> None:
        assert isinstance(value, tuple)
        generator, reason = value
        self._receive_generator(generator, str(reason))

    def _load_failed(self, message: str) -> None:
        self._receive_generator(None, f"not available: {message}")

    def _samples_arrived(self, value: object) -> None:
        assert isinstance(value, list)
        self._show_samples(value)

    def _sampling_failed(self, message: str) -> None:
        self.status.setText(f"Generation failed: {message}")

    def _receive_generator(self, generator: Any | None, reason: str) -> None:
        self.generator = generator
        self.reason = reason
        if generator is None:
            self._set_controls_enabled(False)
            self.strip.clear()
            self.samples = []
            self.status.setText(f"<b>No trained generator</b> — {reason}. The strip stays off: an "
                                "untrained network only makes noise.")
            self.status.setToolTip(reason)
            return
        layers = int(getattr(generator, "num_layers", 2))
        self.crossover_slider.blockSignals(True)
        self.crossover_slider.setRange(1, max(1, layers - 1))
        self.crossover_slider.setValue(max(1, min(layers - 1, layers // 2)))
        self.crossover_slider.blockSignals(False)
        self.crossover_label.setText(str(self.crossover_slider.value()))
        self.warning = getattr(generator, "quality_warning", None)
        self.demo_check.setVisible(self.warning is not None)
        if self.warning is not None:
            self.status.setText(f"{reason}.<br><span style='color:#b35900'><b>Not usable yet</b> — "
                                f"{self.warning}.</span>")
            self.status.setToolTip(f"{reason}\n{self.warning}")
        else:
            self.status.setText(f"{reason}. Click a design to colour from it.")
            self.status.setToolTip(reason)
        self._set_controls_enabled(self.showing_samples)
        self.refresh()

    def _show_samples(self, samples: list[Sample]) -> None:
        self.samples = samples
        for i, smp in enumerate(samples):
            item = self.strip.item(i) if i < self.strip.count() else QListWidgetItem(self.strip)
            item.setData(Qt.ItemDataRole.UserRole, i)
            item.setText(smp.label)
            item.setToolTip(f"{smp.label} — {smp.image.shape[1]}×{smp.image.shape[0]}; click to colour from it")
            item.setIcon(QIcon(QPixmap.fromImage(to_qimage(smp.image)).scaled(
                THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)))
        # while a request fills in, the later thumbnails still show the previous request (no flicker);
        # clicking one of those does nothing until it is replaced

    def choose(self, index: int) -> Sample:
        """Use thumbnail ``index`` (emits :attr:`chosen`) and return its sample."""
        smp = self.samples[index]
        self.chosen.emit(smp)
        return smp

    def _item_clicked(self, item: QListWidgetItem) -> None:
        i = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(i, int) and 0 <= i < len(self.samples):
            self.choose(i)
