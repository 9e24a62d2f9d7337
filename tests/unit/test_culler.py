"""platform.yaml's `culler:` section: parsing, defaults, errors naming the key, and the JupyterHub service and
role it gives the hub (exactly the culler's four scopes; nothing when disabled)."""

from __future__ import annotations

import textwrap

import pytest
from traitlets.config import Config

from mlops_hub import cli
from mlops_hub.hub.culler import ROLE, SERVICE, configure_culler
from mlops_hub.policy.culler import CullerSettings, culler_from_config, parse_duration
from mlops_hub.policy.errors import ConfigError
from mlops_hub.policy.platform import check_platform_document

SPAWNER = """
spawner:
  environments:
    - {slug: python, display_name: Python, image: lab:1, default: true}
"""


@pytest.mark.parametrize("value, seconds", [
    (30, 30), (0, 0), ("45", 45), ("90s", 90), ("5m", 300), ("1h", 3600), ("1.5h", 5400), (" 2 m ", 120),
    (2.4, 2), ("0.5m", 30),
])
def test_durations_are_seconds_or_a_number_with_a_unit(value, seconds):
    assert parse_duration("culler.timeout", value) == seconds


@pytest.mark.parametrize("value, expected", [
    ("1x", "expected a duration such as 90s, 30m, 1h or a number of seconds (units s, m, h), got '1x'"),
    ("1d", "(units s, m, h), got '1d'"),
    ("1h30m", "(units s, m, h), got '1h30m'"),
    ("", "(units s, m, h), got ''"),
    ("-5m", "(units s, m, h), got '-5m'"),
    (-5, "not negative, got -5"),
    (float("inf"), "not negative, got inf"),
    (True, "got bool"),
    ([60], "got list"),
])
def test_bad_durations_name_the_key_and_what_is_allowed(value, expected):
    with pytest.raises(ConfigError) as info:
        parse_duration("culler.timeout", value)
    assert info.value.field == "culler.timeout"
    assert expected in info.value.message


def test_defaults_are_on_one_hour_checked_every_ten_minutes():
    expected = CullerSettings(enabled=True, timeout=3600, max_age=0, every=600)
    assert culler_from_config(None) == culler_from_config({}) == CullerSettings() == expected


@pytest.mark.parametrize("section, expected", [
    ({"timeout": "30s"}, CullerSettings(True, 30, 0, 15)),  # the culler's own default: timeout/2
    ({"timeout": "8h"}, CullerSettings(True, 8 * 3600, 0, 600)),  # capped at 10 minutes
    ({"timeout": 1}, CullerSettings(True, 1, 0, 1)),  # at least a second
    ({"timeout": "30s", "every": "5s", "max_age": "12h"}, CullerSettings(True, 30, 12 * 3600, 5)),
    ({"enabled": False}, CullerSettings(False, 3600, 0, 600)),
    ({"every": None, "max_age": None}, CullerSettings()),  # `every:` left empty is the default
])
def test_settings_and_the_default_interval(section, expected):
    assert culler_from_config(section) == expected


@pytest.mark.parametrize("section, field, expected", [
    ({"timeout": 0}, "culler.timeout", "must be at least 1 second, got 0"),
    ({"timeout": "0.4s"}, "culler.timeout", "must be at least 1 second"),
    ({"every": "0s"}, "culler.every", "must be at least 1 second"),
    ({"max_age": "-1h"}, "culler.max_age", "expected a duration"),
    ({"max_age": -60}, "culler.max_age", "not negative"),
    ({"enabled": "yes please"}, "culler.enabled", "expected true or false, got 'yes please'"),
    ({"enabled": None}, "culler.enabled", "expected true or false, got None"),
    ({"timout": "1h"}, "culler.timout", "not a culler setting; allowed: enabled, timeout, max_age, every"),
    ({"users": True}, "culler.users", "not a culler setting"),
    ("1h", "culler", "expected a mapping with enabled, timeout, max_age, every, got str"),
    (False, "culler", "expected a mapping with enabled, timeout, max_age, every, got bool"),
    ([{"timeout": 60}], "culler", "got list"),
])
def test_bad_sections_name_the_key(section, field, expected):
    with pytest.raises(ConfigError) as info:
        culler_from_config(section)
    assert info.value.field == field
    assert expected in info.value.message


def test_the_whole_platform_document_checks_the_section():
    check_platform_document({"culler": {"timeout": "2h"}})
    with pytest.raises(ConfigError, match=r"^culler\.timeout: expected a duration"):
        check_platform_document({"spawner": {}, "culler": {"timeout": "2 hours"}})


# ---- the hub: the service and the role it is given -----------------------------------------------------
def configured(tmp_path, text: str | None) -> tuple[Config, CullerSettings]:
    path = tmp_path / "platform.yaml"
    if text is not None:
        path.write_text(textwrap.dedent(text))
    c = Config()
    settings = configure_culler(c, path, python="/opt/hub/bin/python")
    return c, settings


def test_the_service_runs_the_culler_with_the_settings(tmp_path):
    c, _ = configured(tmp_path, SPAWNER + "culler: {timeout: 30s, every: 5s, max_age: 2h}\n")
    assert c.JupyterHub.services == [{
        "name": SERVICE,
        "command": ["/opt/hub/bin/python", "-m", "jupyterhub_idle_culler", "--timeout=30", "--cull-every=5",
                    "--max-age=7200"],
    }]
    # no admin, no api_token, no url: a hub-managed process that gets its token from the hub
    assert "admin" not in c.JupyterHub.services[0] and "api_token" not in c.JupyterHub.services[0]


def test_the_role_has_exactly_the_culler_scopes(tmp_path):
    c, _ = configured(tmp_path, SPAWNER)
    assert c.JupyterHub.load_roles == [{
        "name": ROLE, "description": "stops idle user servers (jupyterhub-idle-culler)",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": [SERVICE],
    }]


def test_the_default_is_on_with_or_without_the_file(tmp_path):
    for text in (SPAWNER, None):
        c, settings = configured(tmp_path, text)
        assert settings == CullerSettings()
        assert c.JupyterHub.services[0]["command"][3:] == ["--timeout=3600", "--cull-every=600", "--max-age=0"]


def test_disabled_adds_no_service_and_no_role(tmp_path):
    c, settings = configured(tmp_path, SPAWNER + "culler:\n  enabled: false\n  timeout: 1h\n")
    assert settings.enabled is False
    assert "services" not in c.JupyterHub and "load_roles" not in c.JupyterHub


def test_the_hubs_other_services_and_roles_stay(tmp_path):
    c = Config()
    c.JupyterHub.services = [{"name": "mlops-cli", "api_token": "t"}]
    c.JupyterHub.load_roles = [{"name": "admin", "services": ["mlops-cli"]}]
    configure_culler(c, None)
    assert [s["name"] for s in c.JupyterHub.services] == ["mlops-cli", SERVICE]
    assert [r["name"] for r in c.JupyterHub.load_roles] == ["admin", ROLE]
    assert c.JupyterHub.load_roles[0] == {"name": "admin", "services": ["mlops-cli"]}  # the culler is not admin


@pytest.mark.parametrize("text, expected", [
    ("culler: {timeout: 10 minutes}\n", "culler.timeout: expected a duration such as 90s, 30m, 1h"),
    ("culler: {timeout: -1}\n", "culler.timeout: expected a duration"),
    ("culler: {cull_users: true}\n", "culler.cull_users: not a culler setting"),
    ("culler: off\n", "culler: expected a mapping with enabled, timeout, max_age, every, got bool"),
    ("culler: {timeout: 1h,,}\n", "not valid YAML at line"),
])
def test_a_bad_section_stops_the_hub_naming_file_and_key(tmp_path, text, expected):
    path = tmp_path / "platform.yaml"
    path.write_text(textwrap.dedent(SPAWNER) + text)
    with pytest.raises(SystemExit) as info:
        configure_culler(Config(), path)
    message = str(info.value.code)
    assert message.startswith(f"mlops-hub: the hub cannot start: {path}: "), message
    assert expected in message
    assert len(message.splitlines()) == 1


def test_up_refuses_a_bad_section_before_building(tmp_path, monkeypatch, capsys):
    path = tmp_path / "platform.yaml"
    path.write_text(textwrap.dedent(SPAWNER) + "culler: {timeout: 1d}\n")
    built = []
    monkeypatch.setattr(cli, "build_all", lambda *a, **k: built.append(a) or {})
    code = cli.main(["up", "--platform-config", str(path), "--state-dir", str(tmp_path / "state")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (f"mlops-hub: {path}: culler.timeout: expected a duration such as 90s, 30m, 1h or a"
                           " number of seconds (units s, m, h), got '1d'")
    assert built == []
