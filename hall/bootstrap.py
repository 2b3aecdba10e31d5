"""First start of a fresh deployment: accounts for every configured person and device.

Every account gets its own random password, which must be changed at the first login
(privileged roles then enrol their second factor). The credentials file is the only
place these secrets and the device links are shown: it is created 0600 inside a 0700
data folder (``hall.private_files``), written whole to a temporary file and renamed, so no
reader ever sees it half-written or readable by others.

Halls generated from a province file (``HallConfig.template`` set) get no accounts here:
20,000 halls would mean ~100,000 argon2 hashes at the first start. The admin adds their
people with ``hall user add`` as each station opens; the file says how many were left out.
"""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from hall.auth import AuthStore, Role
from hall.auth.passwords import generate_password
from hall.config import HallConfig
from hall.private_files import make_private_dir, write_private

CREDENTIALS_FILE = "initial-credentials.txt"


async def ensure_initial_accounts(
    redis: Redis, halls: dict[str, HallConfig], data_dir: Path, base_url: str
) -> Path | None:
    """Create accounts and device tokens if there are no users yet; write them to a file.

    Returns the credentials file written, or None when accounts already existed.
    """
    auth = AuthStore(redis)
    if await auth.user_count() > 0:
        return None
    lines = [
        "# Initial accounts of this hall deployment. Each password works once: it must be",
        "# changed at the first login (admins and managers then set up their second factor).",
        "# Hand each line to its person, then delete this file.",
        "",
    ]

    async def account(username: str, role: Role, halls_: tuple[str, ...], label: str,
                      staff_id: str | None = None, display_name: str = "") -> None:
        password = generate_password()
        await auth.add_user(username, password, role, halls_, staff_id, display_name,
                            must_change=True)
        lines.append(f"  {role.value + ':':<9} {username}  password: {password}  {label}")

    await account("admin", Role.ADMIN, (), "(every hall)", display_name="Administrator")
    generated = sum(1 for cfg in halls.values() if cfg.template)
    if generated:
        lines += ["", f"# {generated} halls generated from a province file have no accounts "
                      "yet: add them with `hall user add` as each opens."]
    for cfg in halls.values():
        if cfg.template:
            continue
        lines += ["", f"[{cfg.id}] {cfg.name_zh} / {cfg.name_en}"]
        await account(f"{cfg.id}-manager", Role.MANAGER, (cfg.id,), "", display_name="值班长")
        for person in cfg.staff:
            role = Role.MANAGER if person.role == "manager" else Role.CLERK
            await account(f"{cfg.id}-{person.id}", role, (cfg.id,),
                          f"({person.name}, 工号 {person.staff_number})", person.id, person.name)
        kiosk = await auth.add_device(Role.KIOSK, cfg.id, f"{cfg.id}-kiosk-1")
        lines.append(f"  kiosk:      {base_url}/h/{cfg.id}/kiosk?device={kiosk}")
        lines.append(f"  hall board: {base_url}/h/{cfg.id}/board")
        lines.append(f"  clerk:      {base_url}/h/{cfg.id}/clerk")
        lines.append(f"  dashboard:  {base_url}/h/{cfg.id}/dashboard")
        for window in cfg.windows:
            pad = await auth.add_device(Role.PAD, cfg.id, f"{cfg.id}-pad-{window.number}",
                                        window=window.number)
            lines.append(f"  window {window.number:>2}: display {base_url}/h/{cfg.id}/window/"
                         f"{window.number}   rating pad {base_url}/h/{cfg.id}/pad/"
                         f"{window.number}?device={pad}")
    make_private_dir(data_dir)
    path = data_dir / CREDENTIALS_FILE
    write_private(path, "\n".join(lines) + "\n")
    return path
