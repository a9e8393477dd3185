"""`liaison inbound`'s SMTP receiver (aiosmtpd): replies to the organiser address.

It answers ``250`` only once the message is stored (applied, history, counter or
quarantined: each is accounted for), ``451`` when the database could not take it (the
sending server tries again later; the Message-ID makes that harmless), and ``552`` when
the message is over the size cap: aiosmtpd counts the bytes as they arrive
(``data_size_limit``) and never hands a bigger message over, so memory stays bounded.
Every recipient is accepted: the receiver sits behind the mail server that routes the
organiser addresses to it (it listens on loopback by default).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifications.inbound.parse import MAX_BYTES
from notifications.inbound.process import Outcome


@dataclass
class InboundHandler:
    """aiosmtpd handler: each message goes to ``deliver`` (a blocking call, run in a
    worker thread so the receiver keeps talking to other clients meanwhile)."""

    deliver: Callable[[bytes], Outcome]
    on_outcome: Callable[[Outcome], None] | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # aiosmtpd hands bytes; be sure
            raw = raw.encode("utf-8", errors="replace")
        outcome = await asyncio.to_thread(self.deliver, raw)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        if not outcome.stored:
            return "451 4.3.0 Requested action aborted: try again later"
        return f"250 2.0.0 OK {outcome.status}"


class InboundReceiver:
    """The receiver running on ``host:port`` in a background thread (``start``/``stop``)."""

    def __init__(
        self,
        deliver: Callable[[bytes], Outcome],
        host: str = "127.0.0.1",
        port: int = 2525,
        on_outcome: Callable[[Outcome], None] | None = None,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.handler = InboundHandler(deliver, on_outcome)
        self.host, self.port = host, port
        self._controller = Controller(
            self.handler, hostname=host, port=port, data_size_limit=max_bytes
        )

    def start(self) -> InboundReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
