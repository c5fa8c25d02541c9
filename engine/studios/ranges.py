"""Valid ranges of the studios' numeric parameters: one table per params module, one checker.

Every params module (``engine.studios.<studio>.params``) keeps a ``RANGES`` table, parameter name →
:class:`Range`. Its dataclasses' ``validate`` checks values with :meth:`Range.check`, so the command
line, batch grids (checked at job start) and the GUI (which binds its spin boxes and sliders to
:attr:`Range.lo` / :attr:`Range.hi`) all read the same numbers, and out-of-range values are refused
with one line before any work is done.

Example:
    >>> SIGMA = Range(0.0, 20.0, lo_open=True, unit="px")
    >>> SIGMA.check("sigma", "1.5")
    1.5
    >>> SIGMA.check("sigma", 1e9)
    Traceback (most recent call last):
    ...
    ValueError: sigma must be > 0 and ≤ 20 px, got 1000000000.0
    >>> str(Range(1, 64, integer=True))
    '[1, 64]'
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any


def _num(v: float) -> str:
    """A bound as people write it: ``0``, ``1.2``, ``-0.5``, ``1e+04``."""
    return f"{v:g}"


@dataclass(frozen=True)
class Range:
    """The valid values of one numeric parameter.

    Args:
        lo: smallest value (excluded when ``lo_open``).
        hi: largest value (always included).
        integer: the parameter is a whole number (``3.0`` is accepted, ``3.5`` is not).
        lo_open: ``lo`` itself is not allowed (``sigma > 0``); a GUI starts one step above it.
        unit: shown after the interval in messages and tables (``"px"``), may be empty.
    """

    lo: float            # smallest value (excluded when lo_open)
    hi: float            # largest value, included
    integer: bool = False  # whole numbers only
    lo_open: bool = False  # lo excluded
    unit: str = ""       # "px", "× face width" ... (may be empty)

    def __str__(self) -> str:
        """The interval in mathematical notation, e.g. ``(0, 20]`` or ``[1, 64]``."""
        return f"{'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}]"

    def describe(self) -> str:
        """The interval with its unit (``(0, 20] px``), for messages and the README table."""
        return f"{self}{' ' + self.unit if self.unit else ''}"

    def requirement(self) -> str:
        """What a value must be, for messages: ``in [0, 1]``, or ``> 0 and ≤ 20 px`` for a range
        open at its low end."""
        unit = f" {self.unit}" if self.unit else ""
        if self.lo_open:
            return f"> {_num(self.lo)} and ≤ {_num(self.hi)}{unit}"
        return f"in {self}{unit}"

    def contains(self, value: float) -> bool:
        """True when ``value`` is a finite number inside the range (and whole, for integers)."""
        if not math.isfinite(value):
            return False
        if self.integer and value != int(value):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        return above and value <= self.hi

    def check(self, name: str, value: Any) -> float:
        """Refuse ``value`` unless it is a number inside the range.

        Args:
            name: the parameter's name, as the user typed it (for the message).
            value: the value to check: a number or a string holding one (grid values, settings);
                ``bool`` is refused.

        Returns:
            The value as a number: an ``int`` for integer ranges, else a ``float``.

        Raises:
            ValueError: not a number, not finite, not whole (integers) or out of range — one line
                naming the parameter, its valid range and the value.
        """
        try:
            if isinstance(value, bool):
                raise TypeError("a bool is no number here")
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number {self.requirement()}, got {value!r}") from None
        if not self.contains(number):
            kind = "a whole number" if self.integer else "a number"
            if not math.isfinite(number) or (self.integer and number != int(number)):
                raise ValueError(f"{name} must be {kind} {self.requirement()}, got {value!r}")
            raise ValueError(f"{name} must be {self.requirement()}, got {value!r}")
        return int(number) if self.integer else number


def check_ranges(ranges: Mapping[str, Range], values: Mapping[str, Any],
                 optional: Collection[str] = ()) -> None:
    """Check every value that has a range (names without a range are not checked here).

    Args:
        ranges: parameter name → :class:`Range` (a params module's ``RANGES``).
        values: parameter name → value.
        optional: names whose value may be ``None`` (unset: "automatic" or "off").

    Raises:
        ValueError: the first value out of its range (see :meth:`Range.check`), or ``None`` for a
            parameter that is not optional.
    """
    for name, value in values.items():
        rng = ranges.get(name)
        if rng is None or (value is None and name in optional):
            continue
        rng.check(name, value)


def ranges_table(ranges: Mapping[str, Range]) -> list[tuple[str, str]]:
    """The table as ``(name, interval with unit)`` rows, in the table's order (README, ``--help``).

    Example:
        >>> ranges_table({"k": Range(1, 10, lo_open=True)})
        [('k', '(1, 10]')]
    """
    return [(name, rng.describe()) for name, rng in ranges.items()]
