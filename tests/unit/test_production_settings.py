"""Pure parts of the production shape: settings, JSON log lines, compose interpolation."""

from __future__ import annotations

import json
import logging

import pytest

from hall.logs import JsonFormatter, current_hall
from hall.redis_conn import describe
from hall.settings import Settings, SettingsError
from tests.e2e.deployment import interpolate, load_compose, render_nginx


def test_sentinel_settings_parsed():
    s = Settings.from_env({"REDIS_SENTINELS": "s1:26379, s2:26380", "REDIS_PASSWORD": "pw",
                           "REDIS_WAIT_REPLICAS": "1", "HALL_LOG_FORMAT": "json"})
    assert s.redis_sentinels == (("s1", 26379), ("s2", 26380))
    assert s.redis_sentinel_master == "hall"
    assert s.redis_password == "pw"
    assert s.redis_wait_replicas == 1
    assert s.log_format == "json"
    assert describe(s) == "sentinel://s1:26379,s2:26380/hall"


@pytest.mark.parametrize("env,key", [
    ({"REDIS_SENTINELS": "s1"}, "REDIS_SENTINELS"),
    ({"REDIS_SENTINELS": "s1:port"}, "REDIS_SENTINELS"),
    ({"REDIS_WAIT_REPLICAS": "one"}, "REDIS_WAIT_REPLICAS"),
    ({"HALL_LOG_FORMAT": "xml"}, "HALL_LOG_FORMAT"),
])
def test_bad_settings_name_the_variable(env, key):
    with pytest.raises(SettingsError, match=key):
        Settings.from_env(env)


def test_describe_hides_the_password():
    assert describe(Settings(redis_url="redis://:secret@db:6379/0")) == "redis://***@db:6379/0"


def test_json_log_line_has_hall_and_ticket():
    record = logging.LogRecord("hall.events", logging.INFO, __file__, 1, "ticket.called",
                               None, None)
    record.hall, record.ticket, record.window = "district", "A007", 3
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "ticket.called"
    assert (line["hall"], line["ticket"], line["window"]) == ("district", "A007", 3)
    assert line["level"] == "info"


def test_json_log_line_takes_the_hall_of_the_request():
    token = current_hall.set("town")
    try:
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "slow %s", ("call",),
                                   None)
        line = json.loads(JsonFormatter().format(record))
    finally:
        current_hall.reset(token)
    assert line["hall"] == "town" and line["msg"] == "slow call"


def test_compose_interpolation():
    env = {"A": "x"}
    assert interpolate("${A}-${B:-dflt}-$$HOME", env) == "x-dflt-$HOME"
    with pytest.raises(KeyError, match="set it"):
        interpolate("${B:?set it}", env)


def test_compose_describes_the_production_shape():
    services = load_compose({"REDIS_PASSWORD": "pw"})
    redis_cmd = services["redis"]["command"]
    assert redis_cmd[redis_cmd.index("--appendonly") + 1] == "yes"
    assert redis_cmd[redis_cmd.index("--requirepass") + 1] == "pw"
    assert services["app"]["command"][:2] == ["hall", "serve"]
    assert services["app"]["deploy"]["replicas"] >= 2
    assert services["worker"]["command"] == ["hall", "worker"]
    assert services["proxy"]["command"][0] == "nginx"
    assert {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"} <= set(services)
    assert services["app"]["environment"]["REDIS_PASSWORD"] == "pw"


def test_nginx_config_rendered_for_local_processes(tmp_path):
    conf = render_nginx(18080, [18001, 18002], tmp_path).read_text()
    assert "server 127.0.0.1:18001" in conf and "server 127.0.0.1:18002" in conf
    assert "server app:8000" not in conf and " /tmp/nginx" not in conf
    assert f"pid {tmp_path}/nginx.pid;" in conf
    assert "listen 127.0.0.1:18080;" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf


def test_secrets_never_reach_the_log():
    from hall.logs import Redact

    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               '%s - "WebSocket %s" [accepted]',
                               ("127.0.0.1:5", "/ws/halls/district/pads/3?device=AbCdEfGh12345678"),
                               None)
    record.path = "/api/halls/district/tickets/Zx9_-Qwerty1234567890/cancel"
    assert Redact().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert "AbCdEfGh12345678" not in line["msg"] and "device=…" in line["msg"]
    assert line["path"] == "/api/halls/district/tickets/…/cancel"
