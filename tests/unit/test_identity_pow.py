"""ID numbers: validation, keyed hash, masking; the proof-of-work challenge."""

from __future__ import annotations

from datetime import date

import pytest

from hall import pow
from hall.errors import Invalid
from hall.identity import (
    age_on,
    identity_key,
    mask_id,
    mask_phone,
    normalise_id,
    normalise_phone,
)

VALID = "11010519491231002X"  # the GB 11643 example number


def test_id_numbers_are_checked() -> None:
    assert normalise_id(" 11010519491231002x ") == VALID
    for bad in ("110105194912310021", "1101051949123100", "11010519491331002X"):
        with pytest.raises(Invalid) as exc:
            normalise_id(bad)
        assert exc.value.code == "invalid_id_number"
    assert age_on(VALID, date(2026, 11, 29)) == 76
    assert age_on(VALID, date(2009, 12, 30)) == 59


def test_keyed_hash_is_stable_per_secret_and_reveals_nothing() -> None:
    a = identity_key(b"secret-1", "id", VALID)
    assert a == identity_key(b"secret-1", "id", VALID)
    assert a != identity_key(b"secret-2", "id", VALID)
    assert VALID not in a and "19491231" not in a
    assert mask_id(VALID) == "110105********002X"
    assert mask_phone(normalise_phone("+86 138 0013 8000")) == "138****8000"
    with pytest.raises(Invalid):
        normalise_phone("12345")


def test_proof_of_work_round_trip() -> None:
    secret = b"s"
    challenge = pow.issue(secret, 1000.0, bits=8)
    solution = pow.solve(challenge)
    pow.verify(secret, challenge, solution, 1000.0, min_bits=8)
    with pytest.raises(Invalid) as exc:
        pow.verify(secret, challenge, solution, 2000.0, min_bits=8)
    assert exc.value.code == "pow_expired"
    with pytest.raises(Invalid):
        pow.verify(b"other", challenge, solution, 1000.0, min_bits=8)
    with pytest.raises(Invalid):  # a cheaper challenge than the hall asks for
        pow.verify(secret, challenge, solution, 1000.0, min_bits=12)
    wrong = next(str(n) for n in range(10_000) if str(n) != solution and not _ok(challenge, n))
    with pytest.raises(Invalid):
        pow.verify(secret, challenge, wrong, 1000.0, min_bits=8)


def _ok(challenge: str, n: int) -> bool:
    try:
        pow.verify(b"s", challenge, str(n), 1000.0, min_bits=8)
        return True
    except Invalid:
        return False
