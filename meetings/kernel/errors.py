"""Errors every slice raises, and the helpers that keep user values in messages safe.

An ``OperationError`` is bad input (CLI exit 2, HTTP 4xx): its message names the field,
file or value at fault. A value quoted in a message goes through :func:`shorten` (a
20 MB YAML value or a binary cell must not make a 20 MB message, nor put control
characters on a terminal); :func:`control_character` is the one test for text that must
stay on one line (names, titles, addresses: they become mail headers and ICS lines).
"""

from __future__ import annotations

import re


class OperationError(Exception):
    """A request that cannot be carried out as asked (bad input): exit status 2."""


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: none has a
# place in a one-line value, and CR/LF in a mail header or ICS property splits it.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

SHORT = 80  # characters of a value quoted in a message


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shorten(value: object, limit: int = SHORT) -> str:
    """``value`` as text fit to quote in a message: at most ``limit`` characters (then
    "…" and the full length), control characters shown as ``\\xNN`` escapes."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text):,} characters)"
    return CONTROL.sub(_visible, text)


def control_character(text: str) -> str | None:
    """The first control or line-separator character in ``text`` as ``U+XXXX``, or None."""
    found = CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"
