"""Who is calling: roles, the principal of a session or device, and the role check.

Roles: ``admin`` (accounts, every hall), ``manager`` (their halls), ``clerk`` (their
hall, the window they log in to), ``auditor`` (reads the audit trail, changes
nothing), devices ``kiosk`` (issue tickets), ``pad`` (ratings at one window),
``display`` (screens), ``phone`` (remote ticketing gateway). Citizens hold no
account: the unguessable ticket id in their link is their only key.

``require`` is the one check every staff/device route calls; a session that still
has to change its password or enrol its second factor passes it for nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from enum import Enum

from hall.errors import DomainError, Forbidden


class Role(str, Enum):
    ADMIN = "admin"
    MANAGER = "manager"
    CLERK = "clerk"
    AUDITOR = "auditor"
    KIOSK = "kiosk"
    PAD = "pad"
    DISPLAY = "display"
    PHONE = "phone"


STAFF_ROLES = (Role.ADMIN, Role.MANAGER, Role.CLERK, Role.AUDITOR)
PRIVILEGED_ROLES = (Role.ADMIN, Role.MANAGER, Role.AUDITOR)  # sign in with a second factor
DEVICE_ROLES = (Role.KIOSK, Role.PAD, Role.DISPLAY, Role.PHONE)


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class PasswordChangeRequired(DomainError):
    status = 403
    code = "password_change_required"


class EnrolmentRequired(DomainError):
    status = 403
    code = "second_factor_enrolment_required"


@dataclass(frozen=True)
class Principal:
    """A signed-in person or a device. ``pending`` is "" for a full session, else
    ``password`` (must change it first) or ``totp`` (must enrol a second factor)."""

    name: str
    role: Role
    halls: tuple[str, ...]  # empty for admin = every hall
    staff_id: str | None = None
    display_name: str = ""
    window: int | None = None  # a pad device belongs to one window
    priority_groups: tuple[str, ...] | None = None  # a kiosk's allowed groups; None = all
    pending: str = ""

    @property
    def is_device(self) -> bool:
        return self.role in DEVICE_ROLES

    def may_see_hall(self, hall_id: str) -> bool:
        return self.role is Role.ADMIN or hall_id in self.halls

    def with_pending(self, pending: str) -> Principal:
        return replace(self, pending=pending)

    def to_json(self) -> str:
        data = asdict(self)
        data["role"] = self.role.value
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Principal:
        data = json.loads(raw)
        data["role"] = Role(data["role"])
        data["halls"] = tuple(data["halls"])
        if data.get("priority_groups") is not None:
            data["priority_groups"] = tuple(data["priority_groups"])
        return cls(**data)


def require(principal: Principal | None, hall_id: str, *roles: Role) -> Principal:
    """The caller, if they hold one of ``roles`` for this hall; else 401/403."""
    principal = require_any(principal, *roles)
    if not principal.may_see_hall(hall_id):
        raise Forbidden(f"you have no access to hall '{hall_id}'")
    return principal


def require_any(principal: Principal | None, *roles: Role) -> Principal:
    """The caller, if they hold one of ``roles`` (in any hall) and finished signing in."""
    if principal is None:
        raise Unauthorized("please log in (or present a device token)")
    if principal.pending == "password":
        raise PasswordChangeRequired("change your password first (POST /api/password)")
    if principal.pending == "totp":
        raise EnrolmentRequired("set up your second factor first (POST /api/totp/enrol)")
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"this needs the role {allowed}; you are {principal.role.value}")
    return principal
