"""Staff accounts: create, sign in (password, throttling, second factor), change, disable.

    account:{a:<tag>}:user:<username> hash  principal (JSON), password_hash, gen, disabled,
                                      must_change, totp_secret, totp_pending, totp_step,
                                      recovery (JSON list of SHA-256 digests),
                                      setup (SHA-256 of its open set-up token)
    {auth}:users                      set   every user name
    {auth}:setup:<sha256>             string "<username> <expires at>": an open set-up
                                      link (single use)

``<tag>`` is the account's own hash tag (``hall.auth.tokens.account_tag``): its sessions
share it, so a Redis Cluster shard failing over pauses only the accounts it holds; the
user list and set-up links (admin work, never on a request's path) keep ``{auth}``.

Every change of password, role, halls, a disable or a removal bumps the account's
``gen`` and deletes its sessions, so they end at once in every process (see
``hall.auth.tokens``). ``AuthStore`` is the one object routes, the CLI and the
bootstrap use; it takes the app's clock for timeouts and throttling.

A new account (``hall user add``, the admin page) gets a set-up link instead of a
password: ``/account#setup=<token>``. The token rides in the URL's fragment, which a
browser never sends to a server (no access log, proxy or Referer sees it) and which the
page removes from the address bar before it posts the token in a JSON body; Redis keeps
only its SHA-256. The link works once (``complete_setup`` takes it with GETDEL), expires
(``SETUP_HOURS``, on the app's clock), and a newer link, a reset or a removal cancels it.
Until it is used the account has no password at all; using it ends every session of the
account and signs the person in (admins, managers and auditors then enrol TOTP).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from redis.asyncio import Redis

from hall.auth import passwords, totp
from hall.auth.principal import (
    DEVICE_ROLES,
    PRIVILEGED_ROLES,
    STAFF_ROLES,
    Principal,
    Role,
    Unauthorized,
)
from hall.auth.throttle import Throttle
from hall.auth.tokens import TAG, Tokens, digest, is_hall_id, text, user_key
from hall.errors import DomainError, Invalid, NotFound

USERS = TAG + ":users"
SETUP = TAG + ":setup:"
SETUP_HOURS = 72
SETUP_PATH = "/account#setup="


def setup_url(base_url: str, token: str) -> str:
    """The address of a set-up link for staff who open the hall at ``base_url``."""
    return f"{base_url.rstrip('/')}{SETUP_PATH}{token}"


def expiry_text(expires: float) -> str:
    """When a set-up link stops working, in the machine's local time with its zone."""
    return time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(expires))


class SetupLinkInvalid(Unauthorized):
    code = "setup_link_invalid"


def hall_names(halls: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Each hall's names (``HallConfig.name_zh``, ``name_en``) for the password policy."""
    return {h: (cfg.name_zh, cfg.name_en) for h, cfg in halls.items()}


class SecondFactorRequired(DomainError):
    status = 401
    code = "second_factor_required"


class UnknownUser(NotFound):
    code = "unknown_user"


def _refused(exc: DomainError, row: dict[str, str] | None) -> DomainError:
    """``exc`` naming the account it refused (``exc.account``, never sent to the caller):
    a failed login of a hall's account is recorded in that hall's audit trail."""
    exc.account = Principal.from_json(row["principal"]) if row else None  # type: ignore[attr-defined]
    return exc


def refused_account(exc: BaseException) -> Principal | None:
    """The existing account a failed login named (None: unknown user, or not a login)."""
    account = getattr(exc, "account", None)
    return account if isinstance(account, Principal) else None


class AuthStore:
    def __init__(self, redis: Redis, session_hours: float = 12, *,
                 idle_minutes: float = 30, clock: Callable[[], float] = time.time,
                 require_second_factor: bool = True,
                 hall_names: dict[str, tuple[str, ...]] | None = None) -> None:
        self.redis = redis
        # each hall's names (zh, en), refused inside its staff's passwords
        self.hall_names = hall_names or {}
        self.clock = clock
        self.session_seconds = int(session_hours * 3600)
        self.require_second_factor = require_second_factor
        self.tokens = Tokens(redis, clock, idle_minutes * 60, self.session_seconds)
        self.throttle = Throttle(redis, clock)

    # --- accounts -------------------------------------------------------------------
    async def add_user(
        self, username: str, password: str | None, role: Role, halls: tuple[str, ...],
        staff_id: str | None = None, display_name: str = "", *, must_change: bool = False,
    ) -> None:
        """Create or replace an account (its sessions end); the password must pass the
        policy. ``must_change``: the first login can do nothing but change it. No
        password (``None``): nobody can sign in until a set-up link (``open_setup``) is used."""
        if role not in STAFF_ROLES:
            raise Invalid(f"role must be one of admin, manager, clerk, auditor; got {role.value}")
        if not username or len(username) > 64 or not all(
                c.isalnum() or c in "-_." for c in username):
            raise Invalid("a user name has 1–64 letters, digits, '-', '_' or '.'")
        if password is None and must_change:
            raise Invalid("an account without a password gets a set-up link, not a change")
        if role is not Role.ADMIN and not halls:
            raise Invalid("managers, clerks and auditors need at least one hall")
        if role is Role.CLERK and not staff_id:
            staff_id = username
        principal = Principal(username, role, halls, staff_id, display_name or username)
        password_hash = ""
        if password is not None:
            passwords.check_policy(password, username, self.words_of(principal))
            password_hash = await passwords.hash_password(password)
        await self._cancel_setup(username)
        await self.redis.hset(user_key(username), mapping={
            "principal": principal.to_json(), "password_hash": password_hash,
            "must_change": "1" if must_change else "", "disabled": ""})
        await self.redis.sadd(USERS, username)
        await self._changed(username)

    def words_of(self, principal: Principal) -> list[str]:
        """What a password of this account must not contain besides its user name."""
        name = principal.display_name
        return [name, *name.replace("-", " ").split(), principal.staff_id or "",
                *principal.halls,
                *(hall for h in principal.halls for hall in self.hall_names.get(h, ()))]

    async def has_user(self, username: str) -> bool:
        return bool(await self.redis.exists(user_key(username)))

    async def user_count(self) -> int:
        return int(await self.redis.scard(USERS))

    async def users(self) -> list[dict[str, Any]]:
        """Every account, without secrets: name, role, halls, staff id, state."""
        out = []
        for name in sorted(text(n) for n in await self.redis.smembers(USERS)):
            row = await self._row(name)
            if row is None:
                continue
            p = Principal.from_json(row["principal"])
            out.append({"username": name, "role": p.role.value, "halls": list(p.halls),
                        "staff_id": p.staff_id, "display_name": p.display_name,
                        "disabled": row.get("disabled") == "1",
                        "must_change": row.get("must_change") == "1",
                        "second_factor": bool(row.get("totp_secret"))})
        return out

    async def set_password(self, username: str, password: str, *, must_change: bool) -> None:
        """An admin's reset (``must_change``) or the user's own change; sessions end."""
        row = await self._existing(username)
        passwords.check_policy(password, username,
                               self.words_of(Principal.from_json(row["principal"])))
        password_hash = await passwords.hash_password(password)
        await self.redis.hset(user_key(username), mapping={
            "password_hash": password_hash, "must_change": "1" if must_change else ""})
        await self._changed(username)

    async def update(self, username: str, *, role: Role | None = None,
                     halls: tuple[str, ...] | None = None, disabled: bool | None = None) -> None:
        """Change role, halls or the disabled flag; the account's sessions end."""
        row = await self._existing(username)
        p = Principal.from_json(row["principal"])
        new = Principal(username, role or p.role, p.halls if halls is None else halls,
                        p.staff_id, p.display_name)
        if new.role not in STAFF_ROLES:
            raise Invalid("role must be one of admin, manager, clerk, auditor")
        if new.role is not Role.ADMIN and not new.halls:
            raise Invalid("managers, clerks and auditors need at least one hall")
        await self.redis.hset(user_key(username), "principal", new.to_json())
        if disabled is not None:
            await self.redis.hset(user_key(username), "disabled", "1" if disabled else "")
        await self._changed(username)

    async def remove(self, username: str) -> None:
        await self._existing(username)
        await self._cancel_setup(username)
        await self.redis.delete(user_key(username))
        await self.redis.srem(USERS, username)
        await self.tokens.end_sessions_of(username)

    # --- set-up links -------------------------------------------------------------------
    async def open_setup(self, username: str, hours: float = SETUP_HOURS) -> tuple[str, float]:
        """A single-use set-up token for the account, and when it expires. The account's
        password is cleared and its sessions end (an admin's reset); any earlier link of
        the account stops working."""
        await self._existing(username)
        token = secrets.token_urlsafe(32)
        key = digest(token)
        expires = self.clock() + hours * 3600
        await self._cancel_setup(username)
        # Redis drops the key a day after it expired on the app's clock (a tidy-up only:
        # the expiry that counts is checked against ``self.clock``)
        await self.redis.set(SETUP + key, f"{username} {expires!r}",
                             ex=int(hours * 3600) + 86400)
        await self.redis.hset(user_key(username), mapping={
            "setup": key, "password_hash": "", "must_change": ""})
        await self._changed(username)
        return token, expires

    async def setup_user(self, token: str) -> str:
        """The account an open, unexpired set-up token is for (``setup_link_invalid``)."""
        username, _ = await self._setup_of(token, take=False)
        return username

    async def complete_setup(self, token: str, password: str) -> tuple[str, Principal]:
        """Use a set-up link: set the password (the policy first, so a refused one leaves
        the link usable), end every session, return a fresh one."""
        username, row = await self._setup_of(token, take=False)
        principal = Principal.from_json(row["principal"])
        passwords.check_policy(password, username, self.words_of(principal))
        password_hash = await passwords.hash_password(password)
        await self._setup_of(token, take=True)  # single use: GETDEL, raced or not
        await self.redis.hset(user_key(username), mapping={
            "password_hash": password_hash, "must_change": "", "setup": ""})
        await self._changed(username)
        return await self._fresh_session(username)

    async def _setup_of(self, token: str, *, take: bool) -> tuple[str, dict[str, str]]:
        key = SETUP + digest(token)
        raw = await (self.redis.getdel(key) if take else self.redis.get(key))
        refused = SetupLinkInvalid("this set-up link was used already, was replaced or has "
                                   "expired; ask your administrator for a new one")
        if raw is None:
            raise refused
        username, expires = text(raw).rsplit(" ", 1)
        row = await self._row(username)
        if row is None or row.get("setup") != digest(token) or self.clock() >= float(expires):
            raise refused
        return username, row

    async def _cancel_setup(self, username: str) -> None:
        row = await self._row(username)
        if row is not None and row.get("setup"):
            await self.redis.delete(SETUP + row["setup"])
            await self.redis.hset(user_key(username), "setup", "")

    async def _changed(self, username: str) -> None:
        await self.redis.hincrby(user_key(username), "gen", 1)
        await self.tokens.end_sessions_of(username)

    async def _row(self, username: str) -> dict[str, str] | None:
        raw = await self.redis.hgetall(user_key(username))
        if not raw or (b"principal" not in raw and "principal" not in raw):
            return None
        return {text(k): text(v) for k, v in raw.items()}

    async def _existing(self, username: str) -> dict[str, str]:
        row = await self._row(username)
        if row is None:
            raise UnknownUser(f"there is no account '{username}'")
        return row

    # --- signing in ---------------------------------------------------------------------
    async def login(self, username: str, password: str, code: str | None = None,
                    address: str = "-") -> tuple[str, Principal]:
        """Check password (and second factor); open a session. Throttled per account and
        per address (429 ``too_many_attempts``); wrong either way is the same 401."""
        row = await self._row(username)
        try:
            await self.throttle.check(username, address)
        except DomainError as exc:
            raise _refused(exc, row) from None
        ok = await passwords.verify_password(row.get("password_hash") if row else None,
                                             password)
        if row is None or not ok or row.get("disabled") == "1":
            await self.throttle.failed(username, address)
            raise _refused(Unauthorized("wrong user name or password",
                                              code="bad_credentials"), row)
        principal = Principal.from_json(row["principal"])
        pending = ""
        if row.get("totp_secret"):
            if not code:
                raise _refused(SecondFactorRequired(
                    "enter the 6-digit code of your authenticator app (or a recovery code)"),
                    row)
            if not await self._second_factor(username, row, code):
                await self.throttle.failed(username, address)
                raise _refused(Unauthorized("wrong code", code="bad_second_factor"), row)
        elif principal.role in PRIVILEGED_ROLES and self.require_second_factor:
            pending = "totp"
        if row.get("must_change") == "1":
            pending = "password"
        await self.throttle.succeeded(username)
        principal = principal.with_pending(pending)
        token = await self.tokens.open_session(username, row.get("gen", "0"), principal)
        return token, principal

    async def _second_factor(self, username: str, row: dict[str, str], code: str) -> bool:
        last = int(row["totp_step"]) if row.get("totp_step") else None
        step = totp.accepted_step(row["totp_secret"], code, self.clock(), last)
        if step is not None:
            await self.redis.hset(user_key(username), "totp_step", str(step))
            return True
        codes = json.loads(row.get("recovery") or "[]")
        hashed = totp.recovery_digest(code)
        if hashed in codes:
            codes.remove(hashed)
            await self.redis.hset(user_key(username), "recovery", json.dumps(codes))
            return True
        return False

    async def change_own_password(self, username: str, old: str, new: str,
                                  address: str = "-") -> tuple[str, Principal]:
        """The user changes their password: every session ends, a fresh one is returned."""
        await self.throttle.check(username, address)
        row = await self._existing(username)
        if not await passwords.verify_password(row.get("password_hash"), old):
            await self.throttle.failed(username, address)
            raise Unauthorized("the current password is wrong", code="bad_credentials")
        if old == new:
            raise passwords.WeakPassword("the new password must differ from the current one")
        await self.set_password(username, new, must_change=False)
        return await self._fresh_session(username)

    async def _fresh_session(self, username: str) -> tuple[str, Principal]:
        row = await self._existing(username)
        principal = Principal.from_json(row["principal"])
        if principal.role in PRIVILEGED_ROLES and self.require_second_factor \
                and not row.get("totp_secret"):
            principal = principal.with_pending("totp")
        token = await self.tokens.open_session(username, row.get("gen", "0"), principal)
        return token, principal

    async def begin_totp(self, username: str) -> dict[str, str]:
        """A new secret awaiting confirmation: its otpauth URI and QR code (SVG)."""
        await self._existing(username)
        secret = totp.new_secret()
        await self.redis.hset(user_key(username), "totp_pending", secret)
        link = totp.uri(secret, username)
        return {"secret": secret, "uri": link, "qr_svg": totp.qr_svg(link)}

    async def confirm_totp(self, username: str, code: str) -> tuple[list[str], str, Principal]:
        """Make the pending secret the account's; returns recovery codes and a new session."""
        row = await self._existing(username)
        secret = row.get("totp_pending")
        step = totp.accepted_step(secret, code, self.clock(), None) if secret else None
        if secret is None or step is None:
            raise Invalid("that code does not match; scan the QR code again and retry",
                          code="bad_second_factor")
        codes = totp.recovery_codes()
        await self.redis.hset(user_key(username), mapping={
            "totp_secret": secret, "totp_pending": "", "totp_step": str(step),
            "recovery": json.dumps([totp.recovery_digest(c) for c in codes])})
        await self._changed(username)
        token, principal = await self._fresh_session(username)
        return codes, token, principal

    async def set_totp(self, username: str, secret: str | None) -> None:
        """Set (tests, scripted set-up) or clear (``hall user passwd --reset-2fa``) the
        second factor directly; the account's sessions end."""
        await self._existing(username)
        await self.redis.hset(user_key(username), mapping={
            "totp_secret": secret or "", "totp_pending": "", "totp_step": "", "recovery": ""})
        await self._changed(username)

    async def logout(self, token: str) -> None:
        await self.tokens.end_session(token)

    # --- devices ----------------------------------------------------------------------
    async def add_device(self, role: Role, hall_id: str, name: str, window: int | None = None,
                         *, expires: float | None = None,
                         priority_groups: tuple[str, ...] | None = None) -> str:
        """A new device token (shown once; only its digest is kept)."""
        if role not in DEVICE_ROLES:
            raise Invalid(f"device kind must be kiosk, pad, display or phone; got {role.value}")
        if not is_hall_id(hall_id):
            raise Invalid("a hall id has letters, digits, '-' and '_'")
        principal = Principal(name, role, (hall_id,), window=window, display_name=name,
                              priority_groups=priority_groups)
        return await self.tokens.add_device(principal, expires)

    async def resolve(self, token: str | None, *, sessions: bool = True) -> Principal | None:
        """The principal of a session or device token; ``sessions=False`` (a token from a
        URL) accepts device tokens only."""
        return await self.tokens.resolve(token, sessions)
