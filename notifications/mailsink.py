"""A local SMTP server (aiosmtpd) that stores every message as an .eml file.

The embedded default for the demo and for tests. A test can make it answer
temporary (4xx) or permanent (5xx) errors for chosen recipients; ``delay`` makes it
take that long (seconds) to accept each message.
"""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class SinkHandler:
    """aiosmtpd handler: keep messages in memory and, if a folder is given, on disk."""

    directory: Path | None = None
    messages: list[EmailMessage] = field(default_factory=list)
    # recipient → list of answers to give to RCPT, consumed one per attempt ("451 ...").
    scripted: dict[str, list[str]] = field(default_factory=dict)
    attempts: int = 0
    _first: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Seconds each message takes to be accepted (a slow server, for benchmarks): awaited,
    # so other connections are served meanwhile — the sink stays concurrent.
    delay: float = 0.0

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self._lock:
            self.attempts += 1
            answers = self.scripted.get(address.lower())
            if answers:
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                if not answer.startswith("250"):
                    return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay > 0:
            await asyncio.sleep(self.delay)
        raw = envelope.original_content or b""
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        with self._lock:
            self.messages.append(msg)
            index = len(self.messages)
            if self.directory is not None and self._first is None:
                # Number after what is already there, so a restarted sink overwrites nothing.
                self.directory.mkdir(parents=True, exist_ok=True)
                self._first = len(list(self.directory.glob("*.eml")))
        if self.directory is not None:
            mid = str(msg.get("Message-ID", "")).strip().strip("<>")
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", mid)[:120] or "message"
            (self.directory / f"{index + (self._first or 0):06d}-{safe}.eml").write_bytes(raw)
        return "250 Message accepted"

    def message_ids(self) -> list[str]:
        with self._lock:
            return [str(m["Message-ID"]).strip() for m in self.messages]


class MailSink:
    """A running sink on 127.0.0.1 (port 0 = pick a free port)."""

    def __init__(
        self,
        port: int = 0,
        directory: Path | None = None,
        host: str = "127.0.0.1",
        delay: float = 0.0,
    ) -> None:
        self.handler = SinkHandler(directory=directory, delay=delay)
        self.host = host
        self._requested_port = port
        self._controller: Controller | None = None
        self.port = port

    def start(self) -> MailSink:
        port = self._requested_port or _free_port(self.host)
        kwargs: dict[str, Any] = {"hostname": self.host, "port": port}
        self._controller = Controller(self.handler, **kwargs)
        self._controller.start()
        self.port = port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port
