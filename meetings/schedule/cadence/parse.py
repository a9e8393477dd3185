"""The one entry point that reads a cadence declaration, whichever of the three forms."""

from __future__ import annotations

from collections.abc import Mapping

from meetings.schedule.cadence.friendly import parse_friendly
from meetings.schedule.cadence.model import Cadence, CadenceError
from meetings.schedule.cadence.phrases import parse_phrase
from meetings.schedule.cadence.rrule import parse_rrule_mapping


def parse_cadence(value: str | Mapping[str, object], *, anchor_month: int | None = None) -> Cadence:
    """Parse a cadence declaration (see the package docstring). Raises CadenceError."""
    if anchor_month is not None and (
        isinstance(anchor_month, bool)
        or not isinstance(anchor_month, int)
        or not 1 <= anchor_month <= 12
    ):
        raise CadenceError(f"anchor_month must be a month number 1-12, not {anchor_month!r}")
    if isinstance(value, str):
        return parse_phrase(value, anchor_month)
    if isinstance(value, Mapping):
        if "rrule" in value:
            return parse_rrule_mapping(value, anchor_month)
        return parse_friendly(value, anchor_month)
    raise CadenceError(
        f"a cadence is a phrase such as 每月召開1次 or a mapping such as {{every: month}}, "
        f"not {value!r}"
    )
