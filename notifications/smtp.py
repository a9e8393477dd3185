"""SMTP delivery with aiosmtplib: one reused connection per worker, clear failure classes."""

from __future__ import annotations

import email.policy
import io
import ssl
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import EmailMessage
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib


class TemporaryFailure(Exception):
    """4xx answers and connection problems: try again later."""


class PermanentFailure(Exception):
    """5xx answers: this message will not be accepted as it is."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    use_tls: bool = False
    start_tls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


def parse_smtp_url(url: str) -> SmtpSettings:
    """smtp://host:port, smtp+starttls://user:pass@host:587, smtps://user:pass@host:465."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtp+starttls", "smtps"):
        raise ValueError(
            f"LIAISON_SMTP_URL: unsupported scheme {parts.scheme!r} (smtp, smtp+starttls, smtps)"
        )
    if not parts.hostname:
        raise ValueError(f"LIAISON_SMTP_URL: no host in {url!r}")
    default_port = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}[scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise ValueError(f"LIAISON_SMTP_URL: bad port in {url!r}") from None
    return SmtpSettings(
        host=parts.hostname,
        port=port,
        use_tls=scheme == "smtps",
        start_tls=scheme == "smtp+starttls",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class SmtpMailer:
    """An open SMTP connection that sends messages one at a time, reconnecting as needed."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._client: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> SmtpMailer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.use_tls,
            start_tls=s.start_tls if s.start_tls else False,
            timeout=s.timeout,
            tls_context=ssl.create_default_context() if (s.use_tls or s.start_tls) else None,
        )
        try:
            await client.connect()
            if s.username:
                await client.login(s.username, s.password or "")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryFailure(f"cannot connect to {s.host}:{s.port}: {exc}") from None
        return client

    async def send(self, message: EmailMessage, sender: str, recipient: str) -> str:
        """Send to one recipient. Returns the server's answer; raises Temporary/PermanentFailure."""
        for attempt in (1, 2):
            if self._client is None or not self._client.is_connected:
                self._client = await self._connect()
            try:
                errors, response = await self._send(self._client, message, sender, recipient)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                refusal = exc.recipients[0] if exc.recipients else None
                code = refusal.code if refusal else 550
                text = f"{code} {refusal.message if refusal else 'recipient refused'}"
                await self._reset()
                raise (PermanentFailure(text) if code >= 500 else TemporaryFailure(text)) from None
            except aiosmtplib.SMTPResponseException as exc:
                text = f"{exc.code} {exc.message}"
                await self._reset()
                if exc.code >= 500:
                    raise PermanentFailure(text) from None
                raise TemporaryFailure(text) from None
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPConnectError) as exc:
                await self.close()
                if attempt == 2:
                    raise TemporaryFailure(f"connection lost: {exc}") from None
                continue  # a stale reused connection: reconnect once
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await self.close()
                raise TemporaryFailure(str(exc) or type(exc).__name__) from None
            return response
        raise TemporaryFailure("unreachable")

    @staticmethod
    async def _send(
        client: aiosmtplib.SMTP, message: EmailMessage, sender: str, recipient: str
    ) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
        """``send_message`` with our (memoised) serialisation: 8BITMIME when offered,
        SMTPUTF8 when an address needs it."""
        if client.is_ehlo_or_helo_needed:
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        options: list[str] = []
        utf8 = not (sender + recipient).isascii()
        if utf8:
            if not client.supports_extension("smtputf8"):
                raise aiosmtplib.SMTPNotSupported(
                    "a non-ASCII address needs SMTPUTF8, which the server does not offer"
                )
            options.append("SMTPUTF8")
        cte_type = "7bit"
        if client.supports_extension("8BITMIME"):
            options.append("BODY=8BITMIME")
            cte_type = "8bit"
        data = to_bytes(message, utf8=utf8, cte_type=cte_type)
        return await client.sendmail(sender, [recipient], data, mail_options=options)

    async def _reset(self) -> None:
        if self._client is not None and self._client.is_connected:
            try:
                await self._client.rset()
            except (aiosmtplib.SMTPException, OSError):
                await self.close()

    async def close(self) -> None:
        if self._client is not None:
            try:
                if self._client.is_connected:
                    await self._client.quit()
            except (aiosmtplib.SMTPException, OSError):
                self._client.close()
            self._client = None


# --- fast serialisation ------------------------------------------------------------------
#
# The email package re-folds every header at every flatten; for the zh-TW headers (RFC
# 2047 encoded words) that dominated the cost of a message. The messages of a batch
# share most headers, so folding is memoised: the output is byte for byte what
# ``BytesGenerator`` with the SMTP policy writes.

_FOLD_CACHE_MAX = 4096
_fold_cache: dict[tuple[str, str, str, bool], bytes] = {}


class _MemoFoldPolicy(email.policy.EmailPolicy):
    """``EmailPolicy`` whose header folding is memoised per (name, value, settings)."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        key = (name, str(value), self.cte_type, bool(self.utf8))
        folded = _fold_cache.get(key)
        if folded is None:
            folded = super().fold_binary(name, value)
            if len(_fold_cache) >= _FOLD_CACHE_MAX:
                _fold_cache.clear()
            _fold_cache[key] = folded
        return folded


_SMTP_POLICY = _MemoFoldPolicy(linesep="\r\n")


def to_bytes(message: EmailMessage, *, utf8: bool = False, cte_type: str = "8bit") -> bytes:
    """The message as SMTP DATA (CRLF line ends), as aiosmtplib's ``send_message`` would."""
    policy = _SMTP_POLICY.clone(utf8=utf8, cte_type=cte_type)
    with io.BytesIO() as out:
        BytesGenerator(out, policy=policy).flatten(message)
        return out.getvalue()
