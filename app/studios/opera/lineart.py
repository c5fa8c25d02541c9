"""Opera studio, "Line art" tab: the extractor (XDoG or HED) and the XDoG sliders bound to the
document, live preview through the worker, export and batch.

The tab's parameters live in the document namespace ``"opera"``; its result is the Opera panel's
result (the panel exports it). Renders are requests on the :data:`RENDER` channel with their own
result callback.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QGroupBox, QPushButton, QVBoxLayout, QWidget

from app.qt_image import to_qimage
from app.studios.base import StudioPanel, WorkerEditor, edit_summary
from app.widgets.param_slider import ParamSlider
from engine.studios.base import EditResult
from engine.studios.opera.editor import LineArtEditor
from engine.studios.opera.params import XDoGParams

STUDIO = "opera"
"""Document namespace of the line-art parameters (and the studio's name)."""
RENDER = "opera.lineart"

_D = XDoGParams()
DEFAULTS: dict[str, Any] = {
    "sigma": _D.sigma, "k": _D.k, "gamma": _D.gamma, "epsilon": _D.epsilon, "phi": _D.phi,
    "threshold_on": False, "threshold": 0.5, "extractor": "xdog",
}

# key: (label, lo, hi, decimals, log, tooltip)
SLIDERS: dict[str, tuple[str, float, float, int, bool, str]] = {
    "sigma": ("σ", 0.3, 5.0, 2, False, "Inner Gaussian σ (pixels): larger = thicker, fewer lines"),
    "k": ("k", 1.1, 5.0, 2, False, "Outer/inner σ ratio"),
    "gamma": ("γ", 0.80, 1.0, 3, False, "Outer Gaussian weight γ (τ): closer to 1 = less shading"),
    "epsilon": ("ε", -0.1, 0.1, 3, False, "White level ε: higher = more and darker lines"),
    "phi": ("φ", 1.0, 1000.0, 1, True, "Soft threshold steepness φ: higher = crisper"),
}

EXTRACTOR_CHOICES: tuple[tuple[str, str], ...] = (
    ("xdog", "XDoG — classical, the sliders below"),
    ("hed", "HED — learned edge detector, thinned lines"),
)
"""Line extractors of the selector: (``XDoGParams.extractor``, label)."""

PARAM_TEXTS: dict[str, str] = {
    "sigma": "line thickness (σ)", "k": "σ ratio (k)", "gamma": "shading weight (γ)",
    "epsilon": "white level (ε)", "phi": "line crispness (φ)", "threshold": "binarisation level",
}
"""The line-art parameters in undo texts ("Change line thickness (σ)")."""


def params_from_dict(d: dict[str, Any]) -> XDoGParams:
    """Document parameters → validated :class:`XDoGParams`.

    Raises:
        ValueError: a value out of range.
    """
    return XDoGParams(sigma=d["sigma"], k=d["k"], gamma=d["gamma"], epsilon=d["epsilon"],
                      phi=d["phi"], threshold=d["threshold"] if d["threshold_on"] else None,
                      extractor=str(d.get("extractor", "xdog"))).validate()


def undo_text(key: str, value: Any) -> str:
    """Undo text of setting line-art parameter ``key`` to ``value``."""
    if key == "threshold_on":
        return "Binarise the line art" if value else "Stop binarising the line art"
    if key == "extractor":
        return f"Line extractor {str(value).upper()}"
    return f"Change {PARAM_TEXTS[key]}"


class LineArtTab(QWidget):
    """The Line art tab of the Opera panel.

    Args:
        host: the Opera panel (document, undo stack, worker, canvas, result and export plumbing);
            the tab adds the panel's show group, export / batch buttons and info line to its page.
    """

    def __init__(self, host: StudioPanel) -> None:
        super().__init__()
        self.host = host
        self.editor: WorkerEditor[None, LineArtEditor] = WorkerEditor(lambda _key: LineArtEditor())
        doc = host.doc
        lay = QVBoxLayout(self)
        box = QGroupBox("Line art")
        form = QVBoxLayout(box)
        self.extractor_combo = QComboBox()
        self.extractor_combo.setObjectName("opera_extractor")
        for key, label in EXTRACTOR_CHOICES:
            self.extractor_combo.addItem(label, key)
        self.extractor_combo.setToolTip("XDoG: difference of Gaussians, tuned by the sliders. HED: holistically-nested "
                                        "edge detection (a network trained on BSDS500), thinned to clean lines")
        self.extractor_combo.setCurrentIndex(self.extractor_combo.findData(doc.param(STUDIO, "extractor")))
        self.extractor_combo.activated.connect(
            lambda i: host.push_param("extractor", self.extractor_combo.itemData(i)))
        form.addWidget(self.extractor_combo)
        self.sliders: dict[str, ParamSlider] = {}
        for key, (label, lo, hi, dec, log, tip) in SLIDERS.items():
            s = ParamSlider(label, lo, hi, decimals=dec, log=log, tooltip=tip)
            s.setObjectName(f"slider_{key}")
            s.set_value(doc.param(STUDIO, key))
            s.edited.connect(lambda v, mk, key=key: host.push_param(key, v, mk))
            form.addWidget(s)
            self.sliders[key] = s
        self.threshold_check = QCheckBox("Binarise (pure black/white)")
        self.threshold_check.setChecked(doc.param(STUDIO, "threshold_on"))
        self.threshold_check.toggled.connect(lambda on: host.push_param("threshold_on", bool(on)))
        form.addWidget(self.threshold_check)
        t = ParamSlider("level", 0.0, 1.0, decimals=2, tooltip="Binarisation level")
        t.setObjectName("slider_threshold")
        t.set_value(doc.param(STUDIO, "threshold"))
        t.setEnabled(doc.param(STUDIO, "threshold_on"))
        t.edited.connect(lambda v, mk: host.push_param("threshold", v, mk))
        form.addWidget(t)
        self.sliders["threshold"] = t
        self._enable_xdog(doc.param(STUDIO, "extractor") == "xdog")
        reset = QPushButton("Reset to defaults")
        reset.clicked.connect(lambda: host.push_params(DEFAULTS, "Reset line-art parameters"))
        form.addWidget(reset)
        lay.addWidget(box)

        host.add_show_group(lay, "Line art")
        host.add_export_and_info(lay, "Export line art…", batch_text="Batch line art…")
        lay.addStretch(1)

    def _enable_xdog(self, on: bool) -> None:
        """The XDoG sliders apply only to XDoG."""
        for key, s in self.sliders.items():
            s.setEnabled(on and (key != "threshold" or bool(self.host.doc.param(STUDIO, "threshold_on"))))
        self.threshold_check.setEnabled(on)

    def show_param(self, key: str, value: Any) -> None:
        """Show a changed line-art parameter in its widget (signals blocked)."""
        if key == "extractor":
            self.extractor_combo.blockSignals(True)
            self.extractor_combo.setCurrentIndex(self.extractor_combo.findData(value))
            self.extractor_combo.blockSignals(False)
            self._enable_xdog(value == "xdog")
        if key in self.sliders:
            self.sliders[key].set_value(value)
        if key == "threshold_on":
            self.threshold_check.blockSignals(True)
            self.threshold_check.setChecked(bool(value))
            self.threshold_check.blockSignals(False)
            self.sliders["threshold"].setEnabled(bool(value))

    def params(self) -> XDoGParams:
        """The document's line-art parameters (validated).

        Raises:
            ValueError: a value out of range.
        """
        return params_from_dict(self.host.doc.params(STUDIO))

    def request_render(self) -> None:
        """Send the opened image + parameters to the worker (newest request wins)."""
        host = self.host
        image = host.doc.image
        if image is None or not host.isVisible():
            return
        try:
            params = self.params()
        except ValueError as exc:
            host.report_error(str(exc))
            return
        host.submit_edit(RENDER, self.editor.get, image, params, self.show_result)

    def show_result(self, value: object) -> None:
        """Keep a full result, put it on the canvas and say what ran (only while the tab is shown)."""
        assert isinstance(value, EditResult)
        host = self.host
        if not host.take_result(value):  # switched away meanwhile: the canvas is another studio's now
            return
        if not host.show_original:
            host.canvas.set_after(to_qimage(value.image))
        if not self.isVisible():  # the Colour tab is shown: its own info line speaks
            return
        text = edit_summary(value)
        host.report_engine(value, text)
        host.info_label.setText(text)
