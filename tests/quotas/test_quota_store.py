"""The store across hub restarts, on SQLite and PostgreSQL: created once, admin edits win over config."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.quotas.hub import ROLE_POLICIES, HubProcess


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/jupyterhub.sqlite"
    pg = request.getfixturevalue("postgres")
    return pg.create_database(f"restart_{tmp_path.name.replace('-', '_').lower()[-20:]}")


def test_admin_edits_survive_restart_and_config_changes_follow_untouched_roles(db_url):
    hub = HubProcess(db_url).start()
    try:
        r = hub.api("GET", "/mlops/quotas/risk-models")
        version = r.json()["version"]
        r = hub.api("PUT", "/mlops/quotas/risk-models",
                    json={"max_cpu": 2, "max_mem": "4G", "pool_cpu": 6, "version": version})
        assert r.status_code == 200, r.text
    finally:
        hub.remove()

    changed = copy.deepcopy(ROLE_POLICIES)
    changed["risk-models"]["max_cpu"] = 8  # the admin's edit wins over this
    changed["default"]["max_cpu"] = 0.5    # nobody edited 'default': config still rules it
    hub2 = HubProcess(db_url, role_policies=changed, tokens=hub.tokens)
    hub2.start()
    try:
        roles = {x["role"]: x for x in hub2.api("GET", "/mlops/quotas").json()["roles"]}
        assert roles["risk-models"]["spec"]["max_cpu"] == 2.0 and roles["risk-models"]["origin"] == "admin"
        assert roles["risk-models"]["version"] == version + 1
        assert roles["default"]["spec"]["max_cpu"] == 0.5 and roles["default"]["version"] == 2
        seeds = [e for e in hub2.api("GET", "/mlops/quotas/audit?role=default").json()["entries"]]
        assert [e["action"] for e in seeds] == ["seed", "seed"]
    finally:
        hub2.remove()

    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert {"mlops_quota_roles", "mlops_quota_audit", "mlops_quota_schema"} <= set(inspect(conn).get_table_names())
        assert conn.execute(text("select version from mlops_quota_schema")).scalar() == 1
    engine.dispose()
