"""Snapshot files for rendered mail, ICS and agendas: ``UPDATE_SNAPSHOTS=1`` rewrites them."""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"


def assert_snapshot(name: str, got: str | bytes) -> None:
    """``got`` equals ``tests/snapshots/NAME`` (text is compared as UTF-8)."""
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(got, bytes):
            path.write_bytes(got)
        else:
            path.write_text(got, encoding="utf-8")
    assert path.exists(), f"run with UPDATE_SNAPSHOTS=1 to create {path}"
    expected: str | bytes = (
        path.read_bytes() if isinstance(got, bytes) else path.read_text(encoding="utf-8")
    )
    assert got == expected, (
        f"{name} differs (UPDATE_SNAPSHOTS=1 rewrites it after a deliberate change)"
    )
