"""The auth app's tables live in the tracking store's own PostgreSQL database (auth.ini's
database_uri is the stack's --backend-store-uri): both schemas migrate there, side by side,
on a fresh database and again at the next start."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.support.mlflow_server import MlflowServer
from tests.support.postgres import PG_BIN, PostgresCluster

from .conftest import Caller, run_user


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


def _tables(cluster: PostgresCluster, db: str) -> set[str]:
    out = subprocess.run([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres",
                          "-d", db, "-Atc", "select tablename from pg_tables where schemaname='public'"],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return set(out.split())


def test_auth_and_tracking_share_one_postgres_database(postgres: PostgresCluster) -> None:
    url = postgres.create_database("mlflow")
    for start in ("fresh", "again"):
        server = MlflowServer(url, edge_auth=True, auth_database_uri=url).start()
        try:
            alice = Caller(server, "alice")
            exp = alice.experiment(f"exp-{start}")
            assert run_user(alice.run(exp)) == ("alice", ["alice"])
            resp = Caller(server, "bob").call("POST", "experiments/delete", {"experiment_id": exp})
            assert resp.status_code == 403, resp.text  # alice's MANAGE grant is in the shared database
        finally:
            server.stop()
    tables = _tables(postgres, "mlflow")
    assert {"alembic_version", "alembic_version_auth", "users", "role_permissions",
            "experiments", "runs"} <= tables, tables
