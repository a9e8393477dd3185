"""A throwaway dovecot IMAP server on loopback, for the IMAP poll's tests.

``dovecot -c CONF -F`` as a child process, with every file it uses (config, passwd-file,
base_dir, state_dir, log, the Maildir) in a fresh temporary directory: no system
configuration is read. One user, a plaintext password (allowed: loopback only). Run as
the current user; as root, dovecot's login and internal processes run as the package's
``dovenull``/``dovecot`` users and the mail as ``nobody`` (dovecot refuses mail access
as root).

Skipped when ``/usr/sbin/dovecot`` is missing, unless ``LIAISON_REQUIRE_DOVECOT`` is set
(then that is a failure). A server that does not come up fails with dovecot's log.
"""

from __future__ import annotations

import grp
import imaplib
import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import free_port, wait_for

DOVECOT = Path("/usr/sbin/dovecot")
HOST = "127.0.0.1"
USER = "liaison"
PASSWORD = "s3cret-Imap-pw"
START_SECONDS = 30.0
NOBODY = 65534  # the mail's uid/gid when the tests run as root
_names = itertools.count(1)


@dataclass(frozen=True)
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    maildir: Path  # the user's INBOX (cur/, new/, tmp/)
    log: Path

    def url(self, password: str | None = None, mailbox: str = "INBOX") -> str:
        """``LIAISON_IMAP_URL`` for this mailbox (``password``: another one, to fail)."""
        secret = self.password if password is None else password
        return f"imap://{self.user}:{secret}@{self.host}:{self.port}/{mailbox}"

    def deliver(self, raw: bytes) -> Path:
        """Put a message in the mailbox the Maildir way: written in tmp/, renamed into new/."""
        name = f"{os.getpid()}.{next(_names)}.liaison-test"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(raw)
        if os.geteuid() == 0:  # the mail belongs to the mail user, as a real delivery's would
            os.chown(tmp, NOBODY, NOBODY)
        new = self.maildir / "new" / name
        os.rename(tmp, new)
        return new

    @contextmanager
    def session(self, timeout: float = 30.0) -> Iterator[imaplib.IMAP4]:
        """A logged-in imaplib connection with INBOX selected read-only (flags untouched)."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=timeout)
        try:
            conn.login(self.user, self.password)
            typ, _ = conn.select("INBOX", readonly=True)
            assert typ == "OK"
            yield conn
        finally:
            conn.logout()

    def uids(self, criterion: str) -> list[int]:
        """The UIDs a ``UID SEARCH criterion`` finds (ALL, SEEN, UNSEEN…)."""
        with self.session() as conn:
            typ, data = conn.uid("SEARCH", criterion)
            assert typ == "OK", data
            return [int(u) for u in (data[0] or b"").split()]

    def log_text(self) -> str:
        """dovecot's log, and what it printed before it had one."""
        files = (self.log, self.log.with_name("stderr.log"))
        return "\n".join(f.read_text(errors="replace") for f in files if f.exists())


def _version() -> tuple[int, int]:
    out = subprocess.run(
        [str(DOVECOT), "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    found = re.match(r"(\d+)\.(\d+)", out.strip())
    if not found:
        pytest.fail(f"{DOVECOT} --version: unexpected output {out!r}")
    return int(found.group(1)), int(found.group(2))


def _accounts() -> str:
    """The settings naming the users dovecot's processes (and the mail) run as."""
    if os.geteuid() != 0:
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        return (  # and no chroot (that needs root)
            f"default_internal_user = {user}\ndefault_internal_group = {group}\n"
            f"default_login_user = {user}\n"
            "service anvil {\n  chroot =\n}\nservice imap-login {\n  chroot =\n}\n"
        )
    for name in ("dovecot", "dovenull"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            pytest.fail(f"running as root, dovecot needs the system user {name!r} (dovecot-core)")
    return (
        "default_internal_user = dovecot\ndefault_internal_group = dovecot\n"
        f"default_login_user = dovenull\nmail_uid = {NOBODY}\nmail_gid = {NOBODY}\n"
    )


def _config(root: Path, port: int, version: tuple[int, int]) -> str:
    passwd, mail = root / "passwd", root / "mail"
    common = (
        f"protocols = imap\nlisten = {HOST}\nbase_dir = {root / 'run'}\n"
        f"state_dir = {root / 'state'}\nlog_path = {root / 'dovecot.log'}\n"
        "ssl = no\nauth_mechanisms = plain login\nauth_failure_delay = 0\n"
        # No growing delay after each failed login (the auth process cannot reach anvil's
        # penalty socket: the documented way to turn auth penalties off).
        "service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n"
        + _accounts()
        + "service imap-login {\n"
        f"  inet_listener imap {{\n    port = {port}\n  }}\n"
        "  inet_listener imaps {\n    port = 0\n  }\n}\n"
    )
    if version >= (2, 4):  # new setting names; the first line must name the config version
        v = f"{version[0]}.{version[1]}.0"
        return (
            f"dovecot_config_version = {v}\ndovecot_storage_version = {v}\n"
            + common
            + "auth_allow_cleartext = yes\n"
            f"mail_driver = maildir\nmail_path = {mail}/%{{user}}\n"
            f"passdb passwd-file {{\n  passwd_file_path = {passwd}\n}}\n"
            f"userdb passwd-file {{\n  passwd_file_path = {passwd}\n}}\n"
        )
    return (
        common + "disable_plaintext_auth = no\n"
        f"mail_location = maildir:{mail}/%u\n"
        "passdb {\n  driver = passwd-file\n"
        f"  args = scheme=PLAIN username_format=%u {passwd}\n}}\n"
        "userdb {\n  driver = passwd-file\n"
        f"  args = username_format=%u {passwd}\n}}\n"
    )


def _prepare(root: Path, port: int) -> Path:
    """The config file (and the directories and passwd-file it names)."""
    root.chmod(0o755)  # as root, the mail user (nobody) must reach mail/
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    if os.geteuid() == 0:
        os.chown(root / "mail", NOBODY, NOBODY)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, port, _version()))
    return conf


def _ready(server: Dovecot, proc: subprocess.Popen[bytes]) -> None:
    """Wait (bounded) until a login works and INBOX exists; else fail with dovecot's log."""
    seen: dict[str, str] = {}

    def up() -> bool:  # True: ready, or no point in waiting longer
        if proc.poll() is not None:
            seen["error"] = f"dovecot exited with status {proc.returncode}"
            return True
        try:
            with server.session(timeout=5.0):
                return True
        except (OSError, imaplib.IMAP4.abort) as exc:  # not listening, no login process yet
            seen["waiting"] = repr(exc)
            return False
        except imaplib.IMAP4.error as exc:  # it answers but refuses: the config is wrong
            seen["error"] = f"login refused: {exc}"
            return True

    if not wait_for(up, START_SECONDS):
        seen["error"] = f"no login within {START_SECONDS:.0f}s (last: {seen.get('waiting')})"
    if "error" not in seen and not (server.maildir / "new").is_dir():
        seen["error"] = f"no Maildir at {server.maildir}"
    if "error" in seen:
        pytest.fail(f"dovecot did not start: {seen['error']}; its log:\n{server.log_text()}")


@contextmanager
def dovecot_server() -> Iterator[Dovecot]:
    """A dovecot on a free loopback port, stopped (and its files removed) on exit."""
    if not DOVECOT.exists():
        if os.environ.get("LIAISON_REQUIRE_DOVECOT"):
            pytest.fail(f"{DOVECOT} is missing and LIAISON_REQUIRE_DOVECOT is set")
        pytest.skip(f"{DOVECOT} is missing (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="liaison-dovecot-"))
    try:
        port = free_port()
        conf = _prepare(root, port)
        server = Dovecot(HOST, port, USER, PASSWORD, root / "mail" / USER, root / "dovecot.log")
        with open(root / "stderr.log", "wb") as err:
            proc = subprocess.Popen(
                [str(DOVECOT), "-c", str(conf), "-F"],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, to stop it whole
            )
        try:
            _ready(server, proc)
            yield server
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()  # the master stops its own children
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
