"""Quota API tests against a real JupyterHub process, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import pytest

from tests.support.postgres import PostgresCluster

from .hub import HubProcess


@pytest.fixture(scope="session")
def postgres():
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def quota_hub(request, tmp_path_factory):
    if request.param == "sqlite":
        db_url = f"sqlite:///{tmp_path_factory.mktemp('hubdb')}/jupyterhub.sqlite"
    else:
        pg = request.getfixturevalue("postgres")
        db_url = pg.create_database(f"hub_{tmp_path_factory.mktemp('x').name.replace('-', '_')}")
    hub = HubProcess(db_url).start()
    yield hub
    hub.remove()
