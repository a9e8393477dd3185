"""Inbound mail: calendar clients' replies (iTIP REPLY, COUNTER) to our invitations.

``parse`` (pure: raw bytes → one reply or a quarantine reason), ``mapping`` (pure: a
reply → a seat's answer and the addresses that say which agency sent it), ``process``
(one message, one transaction, exactly once per Message-ID), ``queries`` (what the
secretariat reads), ``smtp`` (the aiosmtpd receiver of `liaison inbound`) and ``imap``
(polling ``LIAISON_IMAP_URL``). See docs/replies.md.
"""
