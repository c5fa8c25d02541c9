"""engine.cache: arrays saved and read back, damaged entries and unwritable folders never fail a
caller; the mask templates read back equal what is drawn, and a changed source makes them anew."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.cache import cache_dir, load_arrays, save_arrays


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MASQUERADE_CACHE_DIR", str(tmp_path / "c"))
    return tmp_path / "c"


def test_round_trip_and_no_pickles(cache: Path) -> None:
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert load_arrays("k", "x") is None
    assert save_arrays("k", "x", {"a": a, "b": np.frombuffer(b"{}", np.uint8)})
    got = load_arrays("k", "x")
    assert got is not None and np.array_equal(got["a"], a) and bytes(got["b"]) == b"{}"
    assert not [p for p in (cache / "k").iterdir() if p.suffix == ".tmp"]
    assert save_arrays("k", "o", {"o": np.array([{"x": 1}], dtype=object)}) is True
    assert load_arrays("k", "o") is None  # an object array would need unpickling: refused, not loaded


def test_damaged_entry_and_unwritable_or_off_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_arrays("k", "x", {"a": np.zeros(3)})
    (cache / "k" / "x.npz").write_bytes(b"not a zip")
    assert load_arrays("k", "x") is None
    blocker = cache.parent / "file"
    blocker.write_text("")
    monkeypatch.setenv("MASQUERADE_CACHE_DIR", str(blocker))  # a file where the folder should be
    assert save_arrays("k", "x", {"a": np.zeros(3)}) is False and load_arrays("k", "x") is None
    monkeypatch.setenv("MASQUERADE_CACHE_DIR", "off")
    assert cache_dir("k") is None and save_arrays("k", "x", {"a": np.zeros(3)}) is False


def test_mask_templates_from_the_cache_equal_drawn_ones(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.procedural.mask_templates as M

    def fresh(name: str, **kw):
        M._cached_template.cache_clear()
        M._cached_side.cache_clear()
        return M.get_template(name, **kw)

    for name, kw in (("surgical-blue", {}), ("cloth-checkered", {"color": (10, 200, 30)}), ("mtf-kn95", {}),
                     ("surgical-white", {"ear_loops": False})):
        made = fresh(name, **kw)
        entries = len(list((cache / M.DISK_CACHE_KIND).glob("*.npz")))
        again = fresh(name, **kw)  # read back from the cache
        assert len(list((cache / M.DISK_CACHE_KIND).glob("*.npz"))) == entries
        assert np.array_equal(again.rgba, made.rgba) and not again.rgba.flags.writeable
        assert (again.name, again.kind, again.anchors, again.meta) == (made.name, made.kind, made.anchors, made.meta)
    side = M.side_variant(fresh("mtf-surgical"), "left")
    M._cached_side.cache_clear()
    assert side is not None and np.array_equal(M.side_variant(M.get_template("mtf-surgical"), "left").rgba, side.rgba)
    # another source: another key, the template is made again
    monkeypatch.setattr(M, "_code_digest", lambda: "changed")
    before = len(list((cache / M.DISK_CACHE_KIND).glob("*.npz")))
    fresh("surgical-blue")
    assert len(list((cache / M.DISK_CACHE_KIND).glob("*.npz"))) == before + 1
    M._cached_template.cache_clear()
    M._cached_side.cache_clear()


def test_no_template_caching_without_sources(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen build ships no sources to hash: templates are drawn, never cached."""
    import engine.procedural.mask_templates as M

    monkeypatch.setattr(M, "_code_digest", lambda: None)
    M._cached_template.cache_clear()
    t = M.get_template("n95")
    M._cached_template.cache_clear()
    assert not t.rgba.flags.writeable and not (cache / M.DISK_CACHE_KIND).exists()
