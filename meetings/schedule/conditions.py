"""The case-rule language: conditions on a case's fields (``CASE_RULE_FIELDS``), grouped
by ``all``/``any``/``not`` — what listing rules and a trigger's ``when`` declare."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from meetings.kernel.vocabulary import CASE_RULE_FIELDS


class StrictModel(BaseModel):
    """A declaration: unknown keys refused, frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(StrictModel):
    field: str
    eq: Any = None
    ne: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    gte: Any = None
    lte: Any = None
    exists: bool | None = None

    @field_validator("field")
    @classmethod
    def _field(cls, v: str) -> str:
        if v not in CASE_RULE_FIELDS:
            raise ValueError(f"unknown case field {v!r}; known: {', '.join(CASE_RULE_FIELDS)}")
        return v

    @model_validator(mode="after")
    def _one_op(self) -> Condition:
        ops = [
            k for k in ("eq", "ne", "in_", "gte", "lte", "exists") if getattr(self, k) is not None
        ]
        if len(ops) != 1:
            raise ValueError("a condition needs exactly one of eq, ne, in, gte, lte, exists")
        return self


class RuleNode(StrictModel):
    all: list[RuleNode | Condition] | None = None
    any: list[RuleNode | Condition] | None = None
    not_: RuleNode | Condition | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _one(self) -> RuleNode:
        if sum(x is not None for x in (self.all, self.any, self.not_)) != 1:
            raise ValueError("a rule group needs exactly one of all, any, not")
        return self
