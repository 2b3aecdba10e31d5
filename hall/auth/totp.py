"""The second factor: TOTP (RFC 6238, via pyotp) enrolled by QR code, and recovery codes.

Enrolment is two steps: ``begin`` makes a secret (kept as ``totp_pending`` on the
account) and returns its otpauth URI and QR code; ``confirm`` with a code from the
app makes it the account's ``totp_secret`` and returns ten one-time recovery codes
(stored as SHA-256 digests: they are random, 50 bits each). A code is accepted once:
the time step of the last accepted code is kept, so a code seen by someone over the
shoulder cannot be replayed within its 30 s.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp
import segno

ISSUER = "Hall queue"
RECOVERY_CODES = 10


def new_secret() -> str:
    return pyotp.random_base32()


def uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(data: str) -> str:
    svg: str = segno.make(data, error="m").svg_inline(scale=4)
    return svg


def accepted_step(secret: str, code: str, now: float, last_step: int | None) -> int | None:
    """The time step ``code`` matches (±1 step of drift), unless already used; else None."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    step = int(now // totp.interval)
    for candidate in (step, step - 1, step + 1):
        expected = totp.at(candidate * totp.interval)
        if hmac.compare_digest(expected, code) and (last_step is None or candidate > last_step):
            return candidate
    return None


def recovery_codes() -> list[str]:
    return [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]


def recovery_digest(code: str) -> str:
    return hashlib.sha256(code.strip().lower().encode()).hexdigest()
