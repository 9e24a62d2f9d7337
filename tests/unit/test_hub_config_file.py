"""The stack's own jupyterhub_config.py, loaded as JupyterHub loads it: with the shipped platform.yaml
the hub starts; with a bad one it stops at start with the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

REPO = Path(__file__).resolve().parents[2]


def load_hub_config(monkeypatch, tmp_path, platform: Path, secrets: Path | None = None, keep_spawner: bool = False):
    monkeypatch.setenv("MLOPS_PLATFORM_CONFIG", str(platform))
    monkeypatch.setenv("MLOPS_SECRETS_DIR", str(secrets or tmp_path / "no-secrets"))
    monkeypatch.setenv("MLOPS_HUB_DB_URL", f"sqlite:///{tmp_path}/hub.sqlite")
    for name in ("MLOPS_OIDC_ISSUER", *(() if keep_spawner else ("MLOPS_HUB_SPAWNER",))):
        monkeypatch.delenv(name, raising=False)
    return PyFileConfigLoader("jupyterhub_config.py", path=str(REPO)).load_config()


def test_the_shipped_platform_file_loads(monkeypatch, tmp_path):
    c = load_hub_config(monkeypatch, tmp_path, REPO / "config" / "platform.yaml")
    assert c.MLOpsSwarmSpawner.quota_store is True
    assert [e["slug"] for e in c.MLOpsSwarmSpawner.environments] == [
        "python", "data-science", "pyspark", "r", "data-engineering"]


def test_a_bad_platform_file_stops_the_stacks_hub(monkeypatch, tmp_path):
    bad = tmp_path / "platform.yaml"
    bad.write_text((REPO / "config" / "platform.yaml").read_text().replace(
        "default: {max_cpu: 1,", "default: {environments: [pyhton], max_cpu: 1,"))
    with pytest.raises(SystemExit) as info:
        load_hub_config(monkeypatch, tmp_path, bad)
    assert str(info.value.code) == (f"mlops-hub: the hub cannot start: {bad}: spawner.role_policies['default']"
                                    ".environments: unknown ['pyhton'];"
                                    " defined: python, data-science, pyspark, r, data-engineering")


def test_an_inline_package_index_password_stops_the_stacks_hub(monkeypatch, tmp_path):
    bad = tmp_path / "platform.yaml"
    inline = "  package_index: {index_url: 'https://pypi.corp/simple', username: bot, password: hunter2-inline}\n"
    bad.write_text((REPO / "config" / "platform.yaml").read_text().replace("spawner:\n", "spawner:\n" + inline))
    with pytest.raises(SystemExit) as info:
        load_hub_config(monkeypatch, tmp_path, bad)
    message = str(info.value.code)
    assert message.startswith(f"mlops-hub: the hub cannot start: {bad}: spawner: package_index.password:"
                              " an inline password is refused")
    assert "password_file" in message and "hunter2-inline" not in message


@pytest.mark.parametrize("spawner_kind", ["mlops", "swarm"])
def test_the_stacks_hub_runs_the_idle_culler_as_configured(monkeypatch, tmp_path, spawner_kind):
    monkeypatch.setenv("MLOPS_HUB_SPAWNER", spawner_kind)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "api_token").write_text("cli-token\n")
    (secrets / "metrics_token").write_text("metrics-token\n")
    c = load_hub_config(monkeypatch, tmp_path, REPO / "config" / "platform.yaml", secrets=secrets,
                        keep_spawner=True)
    assert [s["name"] for s in c.JupyterHub.services] == ["mlops-cli", "mlops-metrics", "mlflow", "airflow",
                                                          "prometheus", "idle-culler"]
    # Prometheus's scrape identity: the metrics_token secret, read:metrics only
    assert c.JupyterHub.services[1]["api_token"] == "metrics-token"
    assert [r["scopes"] for r in c.JupyterHub.load_roles if r["name"] == "mlops-metrics"] == [["read:metrics"]]
    assert c.JupyterHub.services[5]["command"][1:] == ["-m", "jupyterhub_idle_culler", "--timeout=3600",
                                                       "--cull-every=600", "--max-age=0"]
    culler_role = [r for r in c.JupyterHub.load_roles if r["name"] == "idle-culler"]
    assert culler_role[0]["scopes"] == ["list:users", "read:users:activity", "read:servers", "delete:servers"]


def test_a_bad_culler_section_stops_the_stacks_hub(monkeypatch, tmp_path):
    bad = tmp_path / "platform.yaml"
    bad.write_text((REPO / "config" / "platform.yaml").read_text().replace("timeout: 1h ", "timeout: 1 hour "))
    with pytest.raises(SystemExit) as info:
        load_hub_config(monkeypatch, tmp_path, bad)
    assert str(info.value.code) == (f"mlops-hub: the hub cannot start: {bad}: culler.timeout: expected a duration"
                                    " such as 90s, 30m, 1h or a number of seconds (units s, m, h), got '1 hour'")
