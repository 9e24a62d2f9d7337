"""Roles named after non-ASCII JupyterHub groups, on a real hub with its store on SQLite and on a
real PostgreSQL (UTF8): a user `иван`, groups `аналитики` and `fz-é`, their quota documents
created, updated, listed, audited and deleted through the REST API, and a role seeded from config."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.support.postgres import PG_BIN, PostgresCluster

from .hub import ROLE_POLICIES, HubProcess

GiB = 1024**3
USER = "иван"
SEEDED = "отдел-рисков"  # a role that comes from the platform config, not from the API
DOC = {"max_cpu": 2, "max_mem": "4G", "environments": ["python"], "pool_cpu": 6, "pool_servers": 3}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def unicode_hub(request, tmp_path_factory):
    if request.param == "sqlite":
        db_url = f"sqlite:///{tmp_path_factory.mktemp('hubdb')}/jupyterhub.sqlite"
    else:
        pg: PostgresCluster = request.getfixturevalue("postgres")
        db_url = pg.create_database(f"hub_{tmp_path_factory.mktemp('u').name.replace('-', '_')}")
    policies = {**ROLE_POLICIES, SEEDED: {"max_cpu": 1, "max_mem": "2G", "pool_servers": 5}}
    hub = HubProcess(db_url, role_policies=policies).start()
    yield hub
    hub.remove()


def test_postgres_for_these_tests_is_utf8(postgres):
    import subprocess

    out = subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "psql"), "-h", "127.0.0.1",
                          "-p", str(postgres.port), "-U", "postgres", "-tAc",
                          "select pg_encoding_to_char(encoding) || ' ' || datctype"
                          " from pg_database where datname = 'template1'"],
                         check=True, capture_output=True, text=True).stdout.split()
    assert out == ["UTF8", "C.UTF-8"]


@pytest.mark.parametrize("role", ["аналитики", "fz-é"])
def test_quota_for_a_non_ascii_group_create_update_audit_delete(unicode_hub, role):
    hub = unicode_hub
    path = f"/mlops/quotas/{quote(role)}"
    assert hub.api("POST", f"/users/{quote(USER)}").status_code in (201, 409)
    assert hub.api("POST", f"/groups/{quote(role)}").status_code in (201, 409)
    r = hub.api("POST", f"/groups/{quote(role)}/users", json={"users": [USER]})
    assert r.status_code == 200, r.text
    assert hub.api("GET", f"/users/{quote(USER)}").json()["groups"] == [role]

    r = hub.api("POST", path, json=DOC)
    assert r.status_code == 201, r.text
    assert r.json()["role"] == role and r.json()["version"] == 1
    r = hub.api("PUT", path, json={**DOC, "max_cpu": 3, "version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["spec"]["max_cpu"] == 3.0

    listed = {x["role"]: x for x in hub.api("GET", "/mlops/quotas").json()["roles"]}
    assert listed[role]["spec"]["max_mem"] == 4 * GiB and listed[role]["version"] == 2
    entries = hub.api("GET", f"/mlops/quotas/audit?role={quote(role)}").json()["entries"]
    assert [(e["role"], e["action"], e["version"]) for e in entries] == [(role, "update", 2), (role, "create", 1)]

    assert hub.api("DELETE", path, headers={"If-Match": '"2"'}).status_code == 204
    assert hub.api("GET", path).status_code == 404
    hub.api("DELETE", f"/groups/{quote(role)}")


def test_role_seeded_from_config_with_a_russian_name(unicode_hub):
    r = unicode_hub.api("GET", f"/mlops/quotas/{quote(SEEDED)}")
    assert r.status_code == 200, r.text
    assert r.json()["origin"] == "config" and r.json()["spec"]["pool_servers"] == 5


@pytest.mark.parametrize("role", ["а/б", "пробел внутри", "-ведущий", "_ведущий"])
def test_non_ascii_names_still_follow_the_group_name_rule(unicode_hub, role):
    r = unicode_hub.api("POST", f"/mlops/quotas/{quote(role, safe='')}", json=DOC)
    assert r.status_code == 400, r.text
    assert r.json()["message"].startswith("role: must be a group name"), r.text
