"""First start of a fresh deployment: accounts for every configured person and device.

No password is made up here: every account gets a single-use set-up link
(``/account#setup=<token>``, ``AuthStore.open_setup``, the same as ``hall user add``), on
which its person chooses their own password (privileged roles then enrol their second
factor). Redis keeps only the token's SHA-256; the link expires (``SETUP_HOURS``), and
``hall user passwd NAME`` gives a fresh one. Links are built from ``HALL_PUBLIC_URL``
(else the address ``hall serve`` listens on).

The credentials file is the only place these links and the device tokens are shown: it
is created 0600 inside a 0700 data folder (``hall.private_files``), written whole to a
temporary file and renamed, so no reader ever sees it half-written or readable by others.
Several app processes starting together on one Redis: one claims the first start
(``SET NX``), the others leave it alone.

Halls generated from a province file (``HallConfig.template`` set) get no accounts here:
20,000 halls would mean ~100,000 accounts at the first start. The admin adds their
people with ``hall user add`` as each station opens; the file says how many were left out.
"""

from __future__ import annotations

import time
from pathlib import Path

from redis.asyncio import Redis

from hall.auth import AuthStore, Role
from hall.auth.accounts import SETUP_HOURS, expiry_text, setup_url
from hall.auth.tokens import TAG
from hall.config import HallConfig
from hall.private_files import make_private_dir, write_private

CREDENTIALS_FILE = "initial-credentials.txt"
# held by the process doing the first start; it expires, but a start that died after
# creating an account is not redone (accounts exist): `hall user passwd` gives links
FIRST_START = TAG + ":first-start"
CLAIM_SECONDS = 600


async def ensure_initial_accounts(
    redis: Redis, halls: dict[str, HallConfig], data_dir: Path, base_url: str,
    *, hours: float = SETUP_HOURS,
) -> Path | None:
    """Create accounts (each with a set-up link) and device tokens if there are no users
    yet; write them to a file.

    Returns the credentials file written, or None when accounts already existed (or
    another process is creating them).
    """
    auth = AuthStore(redis)
    if await auth.user_count() > 0:
        return None
    if not await redis.set(FIRST_START, str(time.time()), nx=True, ex=CLAIM_SECONDS):
        return None
    expires = [time.time() + hours * 3600]
    entries: list[str] = []

    async def account(username: str, role: Role, halls_: tuple[str, ...], label: str,
                      staff_id: str | None = None, display_name: str = "") -> None:
        await auth.add_user(username, None, role, halls_, staff_id, display_name)
        token, expires[0] = await auth.open_setup(username, hours)
        entries.append(f"  {role.value + ':':<9} {username}  set-up link: "
                       f"{setup_url(base_url, token)}  {label}".rstrip())

    await account("admin", Role.ADMIN, (), "(every hall)", display_name="Administrator")
    generated = sum(1 for cfg in halls.values() if cfg.template)
    if generated:
        entries += ["", f"# {generated} halls generated from a province file have no accounts "
                        "yet: add them with `hall user add` as each opens."]
    for cfg in halls.values():
        if cfg.template:
            continue
        entries += ["", f"[{cfg.id}] {cfg.name_zh} / {cfg.name_en}"]
        await account(f"{cfg.id}-manager", Role.MANAGER, (cfg.id,), "", display_name="值班长")
        for person in cfg.staff:
            role = Role.MANAGER if person.role == "manager" else Role.CLERK
            await account(f"{cfg.id}-{person.id}", role, (cfg.id,),
                          f"({person.name}, 工号 {person.staff_number})", person.id, person.name)
        kiosk = await auth.add_device(Role.KIOSK, cfg.id, f"{cfg.id}-kiosk-1")
        entries.append(f"  kiosk:      {base_url}/h/{cfg.id}/kiosk?device={kiosk}")
        entries.append(f"  hall board: {base_url}/h/{cfg.id}/board")
        entries.append(f"  clerk:      {base_url}/h/{cfg.id}/clerk")
        entries.append(f"  dashboard:  {base_url}/h/{cfg.id}/dashboard")
        for window in cfg.windows:
            pad = await auth.add_device(Role.PAD, cfg.id, f"{cfg.id}-pad-{window.number}",
                                        window=window.number)
            entries.append(f"  window {window.number:>2}: display {base_url}/h/{cfg.id}/window/"
                           f"{window.number}   rating pad {base_url}/h/{cfg.id}/pad/"
                           f"{window.number}?device={pad}")
    header = [
        "# Initial accounts of this hall deployment. No account has a password yet: each",
        "# has a single-use set-up link, on which its person chooses their own password",
        "# (admins and managers then set up their second factor).",
        f"# The links stop working at {expiry_text(expires[0])} ({hours:g} h after this "
        "first start).",
        "# A link that expired or was lost: `hall user passwd NAME` prints a new one (its",
        "# address from HALL_PUBLIC_URL or --url); signed in, an admin can also reset an",
        "# account on the /account page.",
        "# Hand each link to its person only, then delete this file.",
    ]
    make_private_dir(data_dir)
    path = data_dir / CREDENTIALS_FILE
    write_private(path, "\n".join([*header, "", *entries]) + "\n")
    return path
