"""The password rule for web logins: long enough, not the email, and hard to guess.

One rule, applied wherever a password is set (``meetings.access.users``: ``users add``,
``users passwd``): at least MIN_LENGTH characters, at most MAX_LENGTH; not the email
address nor anything containing its local part (``chen`` in ``chen@taoyuan.example``);
and a strength score of at least MIN_SCORE on zxcvbn's 0–4 scale (Dropbox's estimator:
it knows dictionary words, names, keyboard patterns, repeats, sequences and dates, so
``aaaaaaaaaaaa`` and ``1234567890ab`` score 0). The reasons are in zh-TW and English.
"""

from __future__ import annotations

from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 1024
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable" (about 10^8 guesses or more)
# zxcvbn scores at most this many characters (its work grows fast with length).
SCORED_PREFIX = 72


def password_problem(password: str, email: str = "") -> str | None:
    """Why ``password`` may not be used for the login ``email``; None when it may."""
    if len(password) < MIN_LENGTH:
        return f"密碼至少 {MIN_LENGTH} 個字元（at least {MIN_LENGTH} characters）"
    if len(password) > MAX_LENGTH:
        return f"密碼至多 {MAX_LENGTH} 個字元（at most {MAX_LENGTH} characters）"
    address = email.strip().lower()
    local = address.split("@", 1)[0]
    lowered = password.lower()
    if address and (lowered == address or (len(local) >= 3 and local in lowered)):
        return "密碼不可包含電子郵件帳號（must not contain the email address or its name part）"
    hints = [h for h in (address, local, *address.replace("@", ".").split(".")) if h]
    result = zxcvbn(password[:SCORED_PREFIX], user_inputs=hints + ["liaison"])
    if int(result["score"]) < MIN_SCORE:
        return (
            "密碼太容易猜到，請用更長、不常見的字詞組合"
            "（too easy to guess: use a longer phrase of uncommon words）"
        )
    return None
