"""Edits take effect at the next spawn without a restart; deleting roles in the store sticks."""

from __future__ import annotations

import re


def _member(hub, user, group):
    assert hub.api("POST", f"/users/{user}").status_code in (201, 409)
    assert hub.api("POST", f"/groups/{group}").status_code in (201, 409)
    assert hub.api("POST", f"/groups/{group}/users", json={"users": [user]}).status_code == 200


def test_edited_limits_and_pool_apply_to_the_next_spawn(quota_hub):
    hub = quota_hub
    _member(hub, "rose", "risk-models")
    r = hub.api("POST", "/users/rose/server", json={"environment": "python", "cpu_limit": 5})
    assert r.status_code == 400 and "0.1 to 4 CPUs" in r.json()["message"], r.text
    role = hub.api("GET", "/mlops/quotas/risk-models").json()
    spec = {**role["spec"], "max_cpu": 2, "pool_servers": 0, "version": role["version"]}
    assert hub.api("PUT", "/mlops/quotas/risk-models", json=spec).status_code == 200
    r = hub.api("POST", "/users/rose/server", json={"environment": "python", "cpu_limit": 3})
    assert r.status_code == 400 and "0.1 to 2 CPUs" in r.json()["message"], r.text
    # a pool of no servers: refused with the numbers, before any Docker object
    r = hub.api("POST", "/users/rose/server", json={"environment": "python", "cpu_limit": 1})
    assert r.status_code == 403, r.text
    assert r.json()["message"].startswith("Team risk-models runs 0 of 0 servers; you asked for 1 more.")
    assert hub.api("GET", "/users/rose").json()["servers"] == {}


def test_deleted_default_role_stays_deleted_and_refuses(quota_hub):
    hub = quota_hub
    s = hub.login("boss")
    page = s.get(f"{hub.url}/hub/mlops/quotas", timeout=10).text
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    version = hub.api("GET", "/mlops/quotas/default").json()["version"]
    r = s.post(f"{hub.url}/hub/mlops/quotas", timeout=10,
               data={"_xsrf": xsrf, "role": "default", "version": "", "action": "delete"})
    assert r.status_code == 400 and "version:" in r.text
    r = s.post(f"{hub.url}/hub/mlops/quotas", timeout=10,
               data={"_xsrf": xsrf, "role": "default", "version": str(version), "action": "delete"})
    assert r.status_code == 200 and "Deleted the quota of role default" in r.text
    assert hub.api("POST", "/users/loner").status_code in (201, 409)
    r = hub.api("POST", "/users/loner/server", json={})
    assert r.status_code == 403 and "not in any role" in r.json()["message"], r.text
