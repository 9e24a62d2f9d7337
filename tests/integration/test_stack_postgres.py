"""The stack keeps the hub's, MLflow's and Airflow's state in its PostgreSQL service, with passwords as
secrets."""

from __future__ import annotations

import json
import time

import docker
import pytest

from .own_stack import run_in

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
    for name in ("jupyterhub_db_password", "mlflow_db_password", "airflow_db_password"):
        password = (stack_settings.secrets_dir / name).read_text().strip()
        assert len(password) >= 32
        for service in ("db", "hub", "mlflow", "airflow-api-server", "airflow-scheduler"):
            spec = hub.docker.inspect_service(f"{stack_settings.stack}_{service}")
            assert password not in json.dumps(spec), (name, service)


def test_db_image_creates_roles_whose_passwords_work_even_with_quotes(images, tmp_path):
    """The db image on its own (plain container, secrets from a folder): an admin's own password
    with a quote in it becomes the role's password, and a wrong one is refused."""
    client = docker.APIClient()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    passwords = {"jupyterhub": "it's-o'clock", "mlflow": "plain-hex-0123", "airflow": "air'flow"}
    for name, password in passwords.items():
        (secrets / f"{name}_db_password").write_text(password + "\n")
        (secrets / f"{name}_db_password").chmod(0o444)  # the image's postgres user reads it
    container = client.create_container(
        images["postgres"], environment={"MLOPS_DB_SECRETS_DIR": "/secrets"},
        host_config=client.create_host_config(binds={str(secrets): {"bind": "/secrets", "mode": "ro"}}))["Id"]
    client.start(container)
    try:
        def login(user: str, password: str) -> tuple[int, str]:
            # over TCP, so the role's password (scram-sha-256) is what is checked
            return run_in(client, container, ["/usr/lib/postgresql/15/bin/psql", "-h", "127.0.0.1", "-U", user,
                                              "-d", user, "-tAc", "select current_user"], env={"PGPASSWORD": password})

        # the final server is the first to listen on TCP (the set-up one listens on the socket only)
        for _ in range(300):
            if run_in(client, container, ["/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1"])[0] == 0:
                break
            time.sleep(0.1)
        for user, password in passwords.items():
            code, out = login(user, password)
            assert (code, out.strip()) == (0, user), out
        code, out = login("jupyterhub", "wrong")
        assert code != 0 and "password authentication failed" in out
    finally:
        client.remove_container(container, force=True, v=True)
