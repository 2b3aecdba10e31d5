"""First start of a fresh deployment: accounts for every configured person and device."""

from __future__ import annotations

import secrets
from pathlib import Path

from redis.asyncio import Redis

from hall.auth import AuthStore, Role
from hall.config import HallConfig


async def ensure_initial_accounts(
    redis: Redis, halls: dict[str, HallConfig], data_dir: Path, base_url: str
) -> Path | None:
    """Create accounts and device tokens if there are no users yet; write them to a file.

    Returns the credentials file written, or None when accounts already existed.
    """
    auth = AuthStore(redis)
    if await auth.user_count() > 0:
        return None
    password = secrets.token_urlsafe(9)
    lines = [
        "# Initial accounts of this hall deployment. Change the passwords, then delete this file.",
        f"# Every account below has the password: {password}",
        "",
        "admin (every hall)",
    ]
    await auth.add_user("admin", password, Role.ADMIN, (), display_name="Administrator")
    for cfg in halls.values():
        lines += ["", f"[{cfg.id}] {cfg.name_zh} / {cfg.name_en}"]
        manager = f"{cfg.id}-manager"
        await auth.add_user(manager, password, Role.MANAGER, (cfg.id,), display_name="值班长")
        lines.append(f"  manager: {manager}")
        for person in cfg.staff:
            role = Role.MANAGER if person.role == "manager" else Role.CLERK
            username = f"{cfg.id}-{person.id}"
            await auth.add_user(username, password, role, (cfg.id,), staff_id=person.id,
                                display_name=person.name)
            lines.append(f"  {role.value}: {username} ({person.name}, 工号 {person.staff_number})")
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
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "initial-credentials.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path
