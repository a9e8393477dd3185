"""A calendar reply → the seat's answer, and which agency it comes from. Pure.

``PARTSTAT`` ACCEPTED → designated (the ATTENDEE's CN), TENTATIVE → tentative,
DECLINED → declined (COMMENT as the reason), DELEGATED with DELEGATED-TO → deputy (the
delegate's CN or address). A delegate's own ACCEPTED with DELEGATED-FROM → deputy too.
The sender is matched against the agencies' declared addresses (and their district
units'), exactly first, then by domain when exactly one invited agency has it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from meetings.kernel.vocabulary import ReplyChannel, SeatState
from meetings.seats.answers import MAX_PERSON, MAX_REASON, Answer
from notifications.inbound.parse import Attendee, Reply


class NotAnAnswer(Exception):
    """The reply answers nothing we can record (its text is the quarantine reason)."""


def replier(reply: Reply, sender: str | None) -> Attendee:
    """The ATTENDEE that is answering: a delegator, else the sender's own line, else the
    first with a PARTSTAT (a REPLY names one attendee; delegations name two)."""
    if not reply.attendees:
        raise NotAnAnswer("no ATTENDEE in the reply")
    for a in reply.attendees:
        if a.partstat == "DELEGATED":
            return a
    for a in reply.attendees:
        if sender is not None and a.address == sender:
            return a
    for a in reply.attendees:
        if a.partstat:
            return a
    return reply.attendees[0]


def _cut(text: str | None, limit: int) -> str | None:
    # Calendar text is what a client wrote, not a form: too long is cut, not refused.
    return None if text is None else text[:limit]


def answer_of(reply: Reply, sender: str | None) -> Answer:
    """The answer a REPLY gives (NotAnAnswer when its PARTSTAT says nothing)."""
    who = replier(reply, sender)
    by = sender or who.address or None
    note = f"RECURRENCE-ID {reply.recurrence_id}"[:200] if reply.recurrence_id else None

    def answer(state: SeatState, person: str | None, for_whom: str | None = None) -> Answer:
        return Answer(
            state,
            ReplyChannel.ITIP,
            person=_cut(person, MAX_PERSON),
            for_whom=_cut(for_whom, MAX_PERSON),
            reason=_cut(reply.comment, MAX_REASON),
            by=by,
            sequence=reply.sequence,
            note=note,
        )

    if who.partstat == "DELEGATED":
        if not who.delegated_to:
            raise NotAnAnswer("PARTSTAT=DELEGATED without DELEGATED-TO")
        target = who.delegated_to[0]
        delegate = next((a for a in reply.attendees if a.address == target), None)
        name = delegate.name if delegate is not None and delegate.name else target
        return answer(SeatState.DEPUTY, name, who.name or who.address)
    if who.partstat == "ACCEPTED":
        if who.delegated_from:
            return answer(SeatState.DEPUTY, who.name or who.address, who.delegated_from[0])
        return answer(SeatState.DESIGNATED, who.name)
    if who.partstat == "TENTATIVE":
        return answer(SeatState.TENTATIVE, who.name)
    if who.partstat == "DECLINED":
        return answer(SeatState.DECLINED, None)
    shown = f"PARTSTAT={who.partstat[:20]}" if who.partstat else "no PARTSTAT"
    raise NotAnAnswer(f"{shown} is not an answer")


def candidates(reply: Reply, sender: str | None) -> list[str]:
    """The addresses that may name the answering agency, most telling first: the
    attendee's, whom a delegate stands in for, then the From address."""
    out: list[str] = []
    try:
        who = replier(reply, sender)
        out += [who.address, *who.delegated_from]
    except NotAnAnswer:
        pass
    if sender:
        out.append(sender)
    return list(dict.fromkeys(a for a in out if "@" in a))


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()


@dataclass(frozen=True)
class Directory:
    """Each agency's addresses (its own and its units'), lower case, by agency code."""

    addresses: Mapping[str, frozenset[str]]

    @classmethod
    def of(
        cls, agencies: Iterable[tuple[str, Sequence[object], Mapping[str, object]]]
    ) -> Directory:
        """From (code, emails, units) as stored in ``agencies``."""
        out: dict[str, frozenset[str]] = {}
        for code, emails, units in agencies:
            found = {str(e).strip().lower() for e in emails or ()}
            for unit in (units or {}).values():
                if isinstance(unit, Mapping):
                    found |= {str(e).strip().lower() for e in unit.get("emails") or ()}
            out[code] = frozenset(a for a in found if "@" in a)
        return cls(out)

    def agency_for(self, addresses: Sequence[str], invited: Iterable[str]) -> str | None:
        """The agency an address is declared for (any agency of the city), else the one
        invited agency whose addresses share its domain (a colleague, an alias)."""
        for address in addresses:
            for code, known in self.addresses.items():
                if address in known:
                    return code
        invited_codes = [c for c in invited if c in self.addresses]
        for address in addresses:
            domain = domain_of(address)
            owners = [
                c for c in invited_codes if domain in {domain_of(a) for a in self.addresses[c]}
            ]
            if len(owners) == 1:
                return owners[0]
        return None
