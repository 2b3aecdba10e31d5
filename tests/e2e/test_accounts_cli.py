"""``hall user …`` and ``hall device …`` against a real Redis: what an operator types."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx

from tests.support import ROOT, AppProcess


def hall(redis_url: str, *args: str) -> str:
    env = {**os.environ, "REDIS_URL": redis_url}
    done = subprocess.run([sys.executable, "-m", "hall.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_user_and_device_commands_take_effect_in_a_running_app(redis_url: str) -> None:
    app = AppProcess(redis_url).start()
    try:
        out = hall(redis_url, "user", "add", "district-S01", "--replace", "--role", "clerk",
                   "--hall", "district", "--staff", "S01")
        token = re.search(r"/account#setup=(\S+)", out).group(1)  # type: ignore[union-attr]
        assert "password" not in out.lower().replace("--password", "")
        new = "my own long passphrase"
        r = httpx.post(f"{app.base_url}/api/setup", json={"token": token, "password": new})
        assert r.status_code == 200, r.text
        session = {"Authorization": f"Bearer {r.json()['token']}"}
        assert httpx.get(f"{app.base_url}/api/me", headers=session).json()["user"]
        listing = hall(redis_url, "user", "list")
        assert "district-S01" in listing and new not in listing and token not in listing
        # a reset: the old password and sessions end, a new link is printed
        out = hall(redis_url, "user", "passwd", "district-S01", "--url", "https://hall.example")
        assert "https://hall.example/account#setup=" in out
        assert httpx.get(f"{app.base_url}/api/me", headers=session).json()["user"] is None
        r = httpx.post(f"{app.base_url}/api/login",
                       json={"username": "district-S01", "password": new})
        assert r.status_code == 401
        token = re.search(r"/account#setup=(\S+)", out).group(1)  # type: ignore[union-attr]
        r = httpx.post(f"{app.base_url}/api/setup", json={"token": token, "password": new + "!"})
        session = {"Authorization": f"Bearer {r.json()['token']}"}
        hall(redis_url, "user", "disable", "district-S01")
        assert httpx.get(f"{app.base_url}/api/me", headers=session).json()["user"] is None

        token = hall(redis_url, "device", "add", "--hall", "district", "--kind", "kiosk",
                     "--name", "front-door").strip()
        kiosk = {"Authorization": f"Bearer {token}"}
        issue = f"{app.base_url}/api/halls/district/tickets"
        assert httpx.post(issue, json={"matter": "QY-KB"}, headers=kiosk).status_code == 201
        devices = hall(redis_url, "device", "list")
        assert "front-door" in devices and token not in devices
        hall(redis_url, "device", "revoke", "front-door")
        assert httpx.post(issue, json={"matter": "QY-KB"}, headers=kiosk).status_code == 401
    finally:
        app.stop()


def test_password_change_in_one_process_ends_sessions_in_another(redis_url: str) -> None:
    from hall.auth import Role
    from tests.e2e.live import PASSWORD, _auth

    _auth(redis_url, lambda a: a.add_user("district-S01", PASSWORD, Role.CLERK, ("district",),
                                          "S01"))
    a, b = AppProcess(redis_url).start(), AppProcess(redis_url).start()
    try:
        def login(app: AppProcess) -> dict[str, str]:
            r = httpx.post(f"{app.base_url}/api/login",
                           json={"username": "district-S01", "password": PASSWORD})
            return {"Authorization": f"Bearer {r.json()['token']}"}

        on_a, on_b = login(a), login(b)
        for app, session in ((b, on_a), (a, on_b)):  # a session works in every process
            assert httpx.get(f"{app.base_url}/api/me", headers=session).json()["user"]
        changed = httpx.post(f"{a.base_url}/api/password", headers=on_a,
                             json={"current": PASSWORD, "new": "a brand new passphrase"})
        assert changed.status_code == 200
        for session in (on_a, on_b):  # seen at once by the other process, no cache
            assert httpx.get(f"{b.base_url}/api/me", headers=session).json()["user"] is None
        fresh = {"Authorization": f"Bearer {changed.json()['token']}"}
        assert httpx.get(f"{b.base_url}/api/me", headers=fresh).json()["user"]
    finally:
        a.stop()
        b.stop()


def test_embedded_data_is_private_from_the_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``hall serve`` on a fresh folder: folder 0700, every file Redis or we wrote 0600."""
    import stat
    import time

    from tests.support import free_port

    data = tmp_path / "var"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    proc = subprocess.Popen([sys.executable, "-m", "hall.cli", "serve", "--port", str(port),
                             "--data", str(data), "--no-worker", "--log-level", "warning"],
                            env={**env, "HALL_START_WORKER": "0"}, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert (data / "initial-credentials.txt").exists()
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        files = [p for p in data.rglob("*") if p.is_file()]
        assert any("appendonly" in str(p) for p in files), files
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
        for path in (p for p in data.rglob("*") if p.is_dir()):
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    finally:
        proc.terminate()
        proc.wait(timeout=30)
