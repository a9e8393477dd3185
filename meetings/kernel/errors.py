"""Errors every slice raises. An ``OperationError`` is bad input (CLI exit 2, HTTP 4xx):
its message names the field, file or value at fault."""

from __future__ import annotations


class OperationError(Exception):
    """A request that cannot be carried out as asked (bad input): exit status 2."""
