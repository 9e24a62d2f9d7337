"""Bad configuration stops the hub at start (and `mlops-hub up` before building), naming file and key."""

from __future__ import annotations

import textwrap

import pytest
from traitlets.config import Config

from mlops_hub import cli
from mlops_hub.hub.config import configure_platform

GOOD = """
spawner:
  environments:
    - {slug: python, display_name: Python, image: lab:1, default: true}
  role_policies:
    default: {max_cpu: 1, max_mem: 2G}
    team: {max_cpu: 2, max_mem: 4G, environments: [python], pool_cpu: 4}
"""

BAD = {
    "unknown environment in a role": (
        GOOD.replace("environments: [python]", "environments: [pyhton]"),
        "spawner.role_policies['team'].environments: unknown ['pyhton']; defined: python"),
    "bad units": (GOOD.replace("max_mem: 4G", "max_mem: 4Q"),
                  "spawner.role_policies['team'].max_mem: expected a memory size"),
    "default above max": (GOOD.replace("team: {max_cpu: 2,", "team: {max_cpu: 2, default_cpu: 3,"),
                          "spawner.role_policies['team'].default_cpu: 3 is above max_cpu 2"),
    "pool below max": (GOOD.replace("pool_cpu: 4", "pool_cpu: 1"),
                       "spawner.role_policies['team'].pool_cpu: 1 is below max_cpu 2"),
    "YAML syntax": (GOOD.replace("team: {max_cpu: 2,", "team: {max_cpu: 2,,"), "not valid YAML at line 7"),
    "unknown setting": (GOOD + "  role_polices: {}\n", "spawner.role_polices: not a setting of the spawner"),
    "environment too big for the role": (
        GOOD.replace("default: true}", "default: true, min_mem: 8G}"),
        "spawner.role_policies['default'].max_mem: 2G is below environment 'python''s min_mem 8G"),
    "fraction out of range": (GOOD + "  cpu_guarantee_fraction: 2\n",
                              "spawner.cpu_guarantee_fraction: must be a number in (0, 1]"),
}


def hub_config(quota_store: bool) -> Config:
    """As the stack's jupyterhub_config.py sets it up before loading platform.yaml."""
    c = Config()
    c.JupyterHub.spawner_class = "mlops_hub.spawner.MLOpsSwarmSpawner"
    c.MLOpsSwarmSpawner.quota_store = quota_store
    c.MLOpsSwarmSpawner.image = "mlops-hub/lab-base:test"  # dockerspawner renders names when it is set
    c.MLOpsSwarmSpawner.network_name = "mlops-hub-net"
    c.MLOpsSwarmSpawner.use_internal_ip = True
    return c


@pytest.mark.parametrize("quota_store", [False, True])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_platform_file_stops_the_hub_naming_file_and_key(tmp_path, case, quota_store):
    text, expected = BAD[case]
    path = tmp_path / "platform.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(SystemExit) as info:
        configure_platform(hub_config(quota_store), path)
    message = str(info.value.code)
    assert message.startswith(f"mlops-hub: the hub cannot start: {path}: "), message
    assert expected in message


def test_good_platform_file_is_loaded_into_the_spawner_section(tmp_path):
    path = tmp_path / "platform.yaml"
    path.write_text(GOOD)
    c = hub_config(True)
    configure_platform(c, path)
    assert c.MLOpsSwarmSpawner.role_policies["team"]["pool_cpu"] == 4


def test_settings_written_in_jupyterhub_config_are_checked_too():
    c = hub_config(True)
    c.MLOpsSwarmSpawner.environments = [{"slug": "python", "image": "lab:1"}]
    c.MLOpsSwarmSpawner.role_policies = {"team": {"max_cpu": 1, "max_mem": "1G", "environments": ["pyhton"]}}
    with pytest.raises(SystemExit, match=r"role_policies\['team'\]\.environments: unknown \['pyhton'\]"):
        configure_platform(c, None)


@pytest.mark.parametrize("case", ["unknown environment in a role", "YAML syntax", "unknown setting"])
def test_up_refuses_a_bad_platform_file_before_building(tmp_path, monkeypatch, capsys, case):
    path = tmp_path / "platform.yaml"
    path.write_text(textwrap.dedent(BAD[case][0]))
    built = []
    monkeypatch.setattr(cli, "build_all", lambda *a, **k: built.append(a) or {})
    code = cli.main(["up", "--platform-config", str(path), "--state-dir", str(tmp_path / "state")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"mlops-hub: {path}: ") and BAD[case][1] in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert built == []  # nothing was built
