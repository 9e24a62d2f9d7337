"""The stack keeps the hub's and MLflow's state in its PostgreSQL service, with passwords as secrets."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.swarm


def _db_container(hub, stack: str) -> str:
    task = hub.docker.tasks(filters={"service": f"{stack}_db", "desired-state": "running"})[0]
    return task["Status"]["ContainerStatus"]["ContainerID"]


def _sql(hub, stack: str, database: str, query: str) -> str:
    exec_id = hub.docker.exec_create(_db_container(hub, stack), [
        "/usr/lib/postgresql/15/bin/psql", "-h", "/run/postgresql", "-U", "postgres", "-d", database,
        "-tAc", query])
    out = hub.docker.exec_start(exec_id).decode()
    assert hub.docker.exec_inspect(exec_id)["ExitCode"] == 0, out
    return out


def test_hub_users_are_rows_in_the_stacks_postgresql(hub, user_name, stack_settings):
    hub.create_user(user_name, ["analysts"])
    users = _sql(hub, stack_settings.stack, "jupyterhub", "select name from users").split()
    assert user_name in users
    # MLflow created its schema in its own database, owned by its own role
    tables = _sql(hub, stack_settings.stack, "mlflow", "select tableowner from pg_tables where tablename='experiments'")
    assert tables.strip() == "mlflow"


def test_role_quotas_and_their_audit_live_in_the_stacks_postgresql(hub, stack_settings):
    # the store creates its tables on first use, and the platform config seeds the roles
    assert hub.api("GET", "/mlops/quotas").status_code == 200
    roles = _sql(hub, stack_settings.stack, "jupyterhub", "select name from mlops_quota_roles").split()
    assert {"analysts", "scientists", "big"} <= set(roles)
    seeds = _sql(hub, stack_settings.stack, "jupyterhub",
                 "select count(*) from mlops_quota_audit where role='analysts' and action='seed'")
    assert int(seeds) == 1


def test_database_passwords_are_in_no_service_spec(hub, stack_settings):
    for name in ("jupyterhub_db_password", "mlflow_db_password"):
        password = (stack_settings.secrets_dir / name).read_text().strip()
        assert len(password) >= 32
        for service in ("db", "hub", "mlflow"):
            spec = hub.docker.inspect_service(f"{stack_settings.stack}_{service}")
            assert password not in json.dumps(spec), (name, service)
