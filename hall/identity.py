"""Citizens' identity numbers: checked, kept only as a keyed hash, shown only masked.

An identity is given as a resident ID card number (居民身份证号码, 18 characters, GB 11643
check digit) or a mobile phone number. Neither is ever stored, logged or sent in clear:
``identity_key`` is an HMAC-SHA256 with the deployment's secret (``HALL_IDENTITY_SECRET``),
so the same person gives the same key in every process (for limits per identity), while
the key reveals nothing to whoever reads Redis without the secret. ``mask_id`` and
``mask_phone`` are the only forms shown on pages and slips.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

from hall.errors import Invalid

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_PHONE = re.compile(r"^1[3-9]\d{9}$")


def normalise_id(raw: str) -> str:
    """Upper-case, without spaces; raise Invalid (``invalid_id_number``) if not a valid ID."""
    number = "".join(str(raw).split()).upper()
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        raise Invalid("an ID card number has 18 characters (digits, the last may be X)",
                      code="invalid_id_number")
    total = sum(int(c) * w for c, w in zip(number[:17], _WEIGHTS, strict=True))
    if _CHECK[total % 11] != number[17]:
        raise Invalid("this ID card number's check digit does not match; please check it",
                      code="invalid_id_number")
    if birth_date(number) is None:
        raise Invalid("this ID card number holds no valid birth date", code="invalid_id_number")
    return number


def normalise_phone(raw: str) -> str:
    phone = "".join(str(raw).split()).removeprefix("+86")
    if not _PHONE.match(phone):
        raise Invalid("a mobile number has 11 digits and starts with 1", code="invalid_phone")
    return phone


def birth_date(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def age_on(number: str, day: date) -> int | None:
    """Age in whole years on ``day`` from a (normalised) ID number."""
    born = birth_date(number)
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def identity_key(secret: bytes, kind: str, value: str) -> str:
    """The keyed hash of a normalised ID or phone number (kind: 'id' or 'phone')."""
    if not secret:
        raise ValueError("the identity secret is empty")
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def mask_id(number: str) -> str:
    """110101********123X: region and last four digits only."""
    return number[:6] + "*" * 8 + number[-4:] if len(number) == 18 else "*" * len(number)


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) == 11 else "*" * len(phone)


def mask_name(name: str) -> str:
    """张** : the family name only (names on public lists)."""
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""
