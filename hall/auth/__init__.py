"""Accounts, sessions, devices and the second factor (see each module's docstring).

``hall.auth`` re-exports what other packages use: ``Role``, ``Principal``,
``require``, ``Unauthorized`` and ``AuthStore``.
"""

from hall.auth.accounts import AuthStore, SecondFactorRequired
from hall.auth.principal import (
    DEVICE_ROLES,
    PRIVILEGED_ROLES,
    STAFF_ROLES,
    Principal,
    Role,
    Unauthorized,
    require,
    require_any,
)

__all__ = ["DEVICE_ROLES", "PRIVILEGED_ROLES", "STAFF_ROLES", "AuthStore", "Principal", "Role",
           "SecondFactorRequired", "Unauthorized", "require", "require_any"]
