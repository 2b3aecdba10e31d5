"""Proof-of-work challenges: make each booking cost the client some CPU, no third party.

The server hands out a challenge ``<expires>.<bits>.<nonce>.<signature>`` (an HMAC with
the deployment secret, so any app process can verify it without shared state). The
client finds a ``solution`` (a decimal counter) such that
SHA-256(``challenge`` + ":" + ``solution``) starts with ``bits`` zero bits — about
2^bits hashes, a fraction of a second in a phone browser at 16 bits, thousands of CPU
seconds for someone booking thousands of slots. ``verify`` checks signature, expiry and
work; that each challenge is used once is the caller's part (a Redis ``SET NX``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from hall.errors import Invalid


def issue(secret: bytes, now: float, bits: int, ttl_seconds: int = 300) -> str:
    expires = int(now) + ttl_seconds
    body = f"{expires}.{bits}.{secrets.token_hex(8)}"
    return f"{body}.{_sign(secret, body)}"


def _sign(secret: bytes, body: str) -> str:
    return hmac.new(secret, f"pow:{body}".encode(), hashlib.sha256).hexdigest()[:24]


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def verify(secret: bytes, challenge: str, solution: str, now: float, min_bits: int) -> None:
    """Raise Invalid (``pow_invalid`` or ``pow_expired``) unless the work is done."""
    parts = challenge.split(".")
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
        raise Invalid("the challenge is not one this server gave out", code="pow_invalid")
    body = ".".join(parts[:3])
    if not hmac.compare_digest(_sign(secret, body), parts[3]):
        raise Invalid("the challenge is not one this server gave out", code="pow_invalid")
    if int(parts[0]) < now:
        raise Invalid("the challenge has expired; please try again", code="pow_expired")
    bits = int(parts[1])
    if bits < min_bits or len(solution) > 20 or not solution.isdigit():
        raise Invalid("the challenge's solution is wrong", code="pow_invalid")
    digest = hashlib.sha256(f"{challenge}:{solution}".encode()).digest()
    if leading_zero_bits(digest) < bits:
        raise Invalid("the challenge's solution is wrong", code="pow_invalid")


def solve(challenge: str) -> str:
    """What the browser does (static/booking.js), for tests, the simulator and benchmarks."""
    bits = int(challenge.split(".")[1])
    counter = 0
    while True:
        digest = hashlib.sha256(f"{challenge}:{counter}".encode()).digest()
        if leading_zero_bits(digest) >= bits:
            return str(counter)
        counter += 1
