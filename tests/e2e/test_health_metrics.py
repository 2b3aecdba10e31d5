"""/healthz, /readyz and /metrics of one app: values move as tickets flow."""

from __future__ import annotations

import re
import time

import redis

from hall.auth import Role
from hall.services import services


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text page (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:]+)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(4))
    return 0.0


def test_health_and_ready(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["redis"] is True


def test_not_ready_while_draining(client):
    assert client.get("/readyz").json()["draining"] is False
    services(client.app).health.draining = True
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "not_ready"
    assert ready.json()["draining"] is True
    assert ready.json()["checks"]["redis"] is True  # the checks still say what works
    assert client.get("/healthz").status_code == 200


def test_metrics_move_as_tickets_flow(client, accounts, clock, redis_url):
    kiosk = accounts.device(Role.KIOSK)
    clerk = accounts.clerk("S01")
    before = client.get("/metrics").text
    assert metric(before, "hall_redis_up") == 1
    base_issued = metric(before, "hall_tickets_issued_total", hall="district", queue="A")
    for _ in range(3):
        r = client.post("/api/halls/district/tickets", json={"matter": "QY-KB"}, headers=kiosk)
        assert r.status_code == 201, r.text
    page = client.get("/metrics").text
    assert metric(page, "hall_tickets_issued_total", hall="district", queue="A",
                  channel="kiosk") == base_issued + 3
    assert metric(page, "hall_waiting_tickets", hall="district", queue="A") == 3

    assert client.post("/api/halls/district/windows/1/login", headers=clerk).status_code == 200
    clock.advance(420)  # seven minutes' wait
    assert client.post("/api/halls/district/windows/1/call-next", headers=clerk).status_code == 200
    clock.advance(60)
    assert client.post("/api/halls/district/windows/1/start", headers=clerk).status_code == 200
    assert client.post("/api/halls/district/windows/1/finish", headers=clerk).status_code == 200
    page = client.get("/metrics").text
    assert metric(page, "hall_tickets_called_total", hall="district", queue="A") == 1
    assert metric(page, "hall_tickets_served_total", hall="district", queue="A") == 1
    assert metric(page, "hall_waiting_tickets", hall="district", queue="A") == 2
    # the seven-minute wait falls in the 600 s bucket, not the 300 s one
    assert metric(page, "hall_wait_seconds_bucket", hall="district", queue="A", le="300.0") == 0
    assert metric(page, "hall_wait_seconds_bucket", hall="district", queue="A", le="600.0") == 1
    assert metric(page, "hall_wait_seconds_sum", hall="district", queue="A") == 420
    assert "hall_rq_queue_depth" in page
    # a job waiting on the reports queue (no worker runs here) is counted at the next scrape
    from rq import Queue

    from hall.jobs import REPORTS_QUEUE

    before = metric(page, "hall_rq_queue_depth", queue=REPORTS_QUEUE)
    Queue(REPORTS_QUEUE, connection=redis.Redis.from_url(redis_url)).enqueue(time.time)
    page = client.get("/metrics").text
    assert metric(page, "hall_rq_queue_depth", queue=REPORTS_QUEUE) == before + 1
    assert "hall_websocket_clients" in page


def test_websocket_clients_counted(client):
    with client.websocket_connect("/ws/halls/district") as ws:
        assert ws.receive_json()["type"] == "hub.snapshot"
        page = client.get("/metrics").text
        assert metric(page, "hall_websocket_clients", hall="district") == 1


def test_tide_decisions_counted(client, accounts):
    manager = accounts.user("district-manager", Role.MANAGER)
    r = client.post("/api/halls/district/tide/override",
                    json={"window": 12, "action": "open", "reason": "上午高峰"}, headers=manager)
    assert r.status_code == 200, r.text
    page = client.get("/metrics").text
    assert metric(page, "hall_tide_decisions_total", hall="district", type="tide.override") == 1
    assert metric(page, "hall_events_committed_total", hall="district",
                  type="tide.override") == 1
