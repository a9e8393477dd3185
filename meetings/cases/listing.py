"""Declarative listing rules (列管指標) evaluated over case facts. Pure, no eval.

A rule is the JSON of a validated ``ListingRuleDecl``: one of ``all``/``any``/``not``
over conditions ``{field, eq|ne|in|gte|lte|exists}`` or nested groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from meetings.kernel.rocdate import parse_date
from meetings.kernel.vocabulary import CASE_DATA_FIELDS, CaseStatus


def rereported_during_service(
    service: str | None, status: str, reported_at: date | None, rereported_at: date | None
) -> bool:
    """Re-reported while in service (處遇中再通報).

    The export has no service-start column, so: a service is recorded, the case is
    not closed, and the re-report came after the original report.
    """
    return bool(
        service
        and status != CaseStatus.CLOSED
        and rereported_at is not None
        and (reported_at is None or rereported_at > reported_at)
    )


def facts_of(case: Any) -> dict[str, Any]:
    """The fields a rule may test, from a Case row (or any object with them)."""
    facts = {name: getattr(case, name, None) for name in ("case_no", *CASE_DATA_FIELDS)}
    facts["rereported_during_service"] = rereported_during_service(
        case.service, case.status, case.reported_at, case.rereported_at
    )
    return facts


def _coerce(operand: Any, fact: Any) -> Any:
    """Bring a rule operand to the fact's type (YAML gives 8 or '8', dates as text)."""
    if isinstance(fact, bool) or fact is None:
        return operand
    if isinstance(fact, date) and isinstance(operand, str):
        try:
            return parse_date(operand)
        except ValueError:
            return operand
    if isinstance(fact, int) and isinstance(operand, str):
        try:
            return int(operand)
        except ValueError:
            return operand
    if isinstance(fact, str) and not isinstance(operand, str):
        return str(operand)
    return operand


def _condition(cond: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    fact = facts.get(cond["field"])
    if "exists" in cond:
        return (fact is not None and fact != "") == bool(cond["exists"])
    if fact is None or fact == "":
        return "ne" in cond  # a missing value differs from anything, equals nothing
    if "eq" in cond:
        return bool(fact == _coerce(cond["eq"], fact))
    if "ne" in cond:
        return bool(fact != _coerce(cond["ne"], fact))
    if "in" in cond:
        return any(fact == _coerce(v, fact) for v in cond["in"])
    for op in ("gte", "lte"):
        if op in cond:
            operand = _coerce(cond[op], fact)
            try:
                return bool(fact >= operand if op == "gte" else fact <= operand)
            except TypeError:
                return False
    raise ValueError(f"condition without an operator: {dict(cond)!r}")


def matches(node: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    """True if ``facts`` satisfy the rule (or group, or condition) ``node``."""
    if "field" in node:
        return _condition(node, facts)
    if node.get("all") is not None:
        return all(matches(n, facts) for n in node["all"])
    if node.get("any") is not None:
        return any(matches(n, facts) for n in node["any"])
    if node.get("not") is not None:
        return not matches(node["not"], facts)
    raise ValueError("a rule group needs one of all, any, not")


# The rule fields whose event carries its own date in the export. Every other field a
# rule may test (type, SDM risk, TIPVDA score, service, status …) has no date column of
# its own and arrives with the report, so its event is the report (``reported_at``).
EVENT_DATE_FIELD = {
    "rereported_at": "rereported_at",
    "rereported_during_service": "rereported_at",
    "order_expiry": "order_expiry",
}


def rule_fields(node: Mapping[str, Any]) -> set[str]:
    """The fields a rule (or group, or condition) tests."""
    if "field" in node:
        return {node["field"]}
    found: set[str] = set()
    for key in ("all", "any"):
        for child in node.get(key) or ():
            found |= rule_fields(child)
    if node.get("not") is not None:
        found |= rule_fields(node["not"])
    return found


def listing_date(node: Mapping[str, Any], event_days: Mapping[str, date], default: date) -> date:
    """The listing date of a case that starts to meet rule ``node``: the date of the event
    that made it meet the rule.

    ``event_days`` are the dated events of the change being evaluated, by field
    (``reported_at``, ``rereported_at``, ``order_expiry``; none later than today). The
    latest of those the rule looks at wins; when the rule looks at none of them (a
    re-import that only changed a score or a service, which have no date in the row),
    ``default``.
    """
    wanted = {EVENT_DATE_FIELD.get(f, "reported_at") for f in rule_fields(node)}
    days = [day for name, day in event_days.items() if name in wanted]
    return max(days) if days else default
