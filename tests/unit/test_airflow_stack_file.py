"""Airflow's part of swarm-stack.yml (docs/scheduling.md): internal network only, secrets as Swarm
secrets (never values in the environment), one DAG volume read-only for Airflow and read-write for the
hub, health checks, and what the contract fixes (executor, parallelism, URLs)."""

from __future__ import annotations

from pathlib import Path

import yaml

from mlops_hub.deploy.stack import SECRET_NAMES

STACK = yaml.safe_load((Path(__file__).resolve().parents[2] / "swarm-stack.yml").read_text())
AIRFLOW = ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
AIRFLOW_SECRETS = ("airflow_db_password", "airflow_hub_password", "airflow_jwt_secret", "airflow_secret_key",
                   "airflow_fernet_key")


def test_four_airflow_services_on_the_internal_network_only_with_health_checks():
    for name in AIRFLOW:
        service = STACK["services"][name]
        assert service["networks"] == ["backend"], name
        assert service["deploy"]["endpoint_mode"] == "dnsrr" and "ports" not in service, name
        assert service["healthcheck"]["test"], name
        assert service["command"] == ["mlops-hub-airflow", name.removeprefix("airflow-")], name
    assert STACK["networks"]["backend"]["internal"] is True
    health = STACK["services"]["airflow-api-server"]["healthcheck"]["test"]
    assert "http://127.0.0.1:8080/airflow/api/v2/monitor/health" in health


def test_the_contracts_settings():
    env = STACK["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor" and env["AIRFLOW__CORE__PARALLELISM"] == "4"
    assert env["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"] == "5"
    assert env["AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"] == "30"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__API__BASE_URL"] == "http://airflow-api-server:8080/airflow"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-api-server:8080/airflow/execution/"
    hub = STACK["services"]["hub"]
    assert hub["environment"]["MLOPS_AIRFLOW_URL"] == "http://airflow-api-server:8080/airflow"
    assert hub["environment"]["MLOPS_AIRFLOW_UI_URL"] == "/airflow/"
    assert hub["environment"]["MLOPS_AIRFLOW_DAGS_DIR"] == "/srv/airflow-dags"
    assert "backend" in hub["networks"]  # it calls Airflow's API


def test_no_secret_value_or_secret_setting_in_any_environment():
    for name, service in STACK["services"].items():
        for key, value in (service.get("environment") or {}).items():
            secret_like = ("_SECRET", "_PASSWORD", "SQL_ALCHEMY_CONN", "FERNET_KEY", "SECRET_KEY")
            assert not key.endswith(secret_like), (name, key)
            assert "://airflow:" not in str(value), (name, key)


def test_secrets_go_where_they_are_needed():
    def secrets(service: str) -> set[str]:
        return {s["source"] for s in STACK["services"][service].get("secrets", [])}

    assert set(AIRFLOW_SECRETS) <= set(SECRET_NAMES)  # `up` generates them, `down` removes them
    assert set(AIRFLOW_SECRETS) <= set(STACK["secrets"])
    assert secrets("airflow-api-server") == set(AIRFLOW_SECRETS)  # it checks the hub's password
    for name in AIRFLOW[1:]:
        assert secrets(name) == set(AIRFLOW_SECRETS) - {"airflow_hub_password"}, name
    assert "airflow_hub_password" in secrets("hub") and "airflow_db_password" not in secrets("hub")
    assert "airflow_db_password" in secrets("db")


def test_the_dag_volume_is_read_only_for_airflow_and_writable_for_the_hub():
    for name in AIRFLOW:
        assert "airflow-dags:/opt/airflow/dags:ro" in STACK["services"][name]["volumes"], name
    assert "airflow-dags:/srv/airflow-dags" in STACK["services"]["hub"]["volumes"]
    scheduler = STACK["services"]["airflow-scheduler"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in scheduler["volumes"]  # DockerSwarmOperator
