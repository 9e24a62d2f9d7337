"""/hub/api/mlops/quotas on a real hub: CRUD, validation, versions, permissions, audit, dry run."""

from __future__ import annotations

import json

import pytest

GiB = 1024**3


def _group(hub, name):
    r = hub.api("POST", f"/groups/{name}")
    assert r.status_code in (201, 409), r.text


def test_config_seeds_the_store_with_version_one(quota_hub):
    r = quota_hub.api("GET", "/mlops/quotas")
    assert r.status_code == 200, r.text
    roles = {x["role"]: x for x in r.json()["roles"]}
    risk = roles["risk-models"]
    assert risk["origin"] == "config" and risk["version"] >= 1
    assert risk["spec"]["pool_cpu"] == 16.0 and risk["spec"]["max_mem"] == 8 * GiB
    assert risk["usage"] == {"servers": 0, "cpu": 0.0, "mem": 0}
    assert r.json()["environments"] == ["python", "torch"]


def test_create_update_delete_with_versions_and_audit(quota_hub):
    hub = quota_hub
    _group(hub, "fraud")
    doc = {"max_cpu": 2, "max_mem": "4G", "environments": ["python"], "pool_cpu": 8, "pool_servers": 4}
    r = hub.api("POST", "/mlops/quotas/fraud", json=doc)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.headers["ETag"] == '"1"'
    assert hub.api("POST", "/mlops/quotas/fraud", json=doc).status_code == 409

    r = hub.api("PUT", "/mlops/quotas/fraud", json={**doc, "max_cpu": 3, "version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["spec"]["max_cpu"] == 3.0
    # stale: someone read version 1 and edits after our change
    r = hub.api("PUT", "/mlops/quotas/fraud", json={**doc, "max_cpu": 1, "version": 1})
    assert r.status_code == 409, r.text
    assert "version 2, not 1" in r.json()["message"]
    r = hub.api("PUT", "/mlops/quotas/fraud", json={**doc, "max_cpu": 1}, headers={"If-Match": '"1"'})
    assert r.status_code == 409
    r = hub.api("PUT", "/mlops/quotas/fraud", json={**doc, "max_cpu": 1}, headers={"If-Match": '"2"'})
    assert r.status_code == 200 and r.json()["version"] == 3
    r = hub.api("PUT", "/mlops/quotas/fraud", json=doc)
    assert r.status_code == 400 and "version" in r.json()["message"]
    assert hub.api("GET", "/mlops/quotas/fraud").json()["spec"]["max_cpu"] == 1.0

    assert hub.api("DELETE", "/mlops/quotas/fraud?version=2").status_code == 409
    assert hub.api("DELETE", "/mlops/quotas/fraud", headers={"If-Match": '"3"'}).status_code == 204
    assert hub.api("GET", "/mlops/quotas/fraud").status_code == 404

    entries = hub.api("GET", "/mlops/quotas/audit?role=fraud").json()["entries"]
    assert [(e["action"], e["version"]) for e in entries] == [("delete", 4), ("update", 3), ("update", 2),
                                                              ("create", 1)]
    update = entries[2]
    assert update["actor"] == "service:admin-svc"
    assert update["before"]["max_cpu"] == 2.0 and update["after"]["max_cpu"] == 3.0
    assert update["at"].endswith("+00:00")
    assert entries[0]["after"] is None


@pytest.mark.parametrize("body, field", [
    (b"{not json", "body"),
    (b"[1, 2]", "body"),
    (json.dumps({"max_cpu": "two", "max_mem": "4G"}).encode(), "max_cpu"),
    (json.dumps({"max_cpu": True, "max_mem": "4G"}).encode(), "max_cpu"),
    (json.dumps({"max_cpu": -2, "max_mem": "4G"}).encode(), "max_cpu"),
    (json.dumps({"max_cpu": 1e300, "max_mem": "4G"}).encode(), "max_cpu"),
    (json.dumps({"max_cpu": 1, "max_mem": 10**40}).encode(), "max_mem"),
    (json.dumps({"max_cpu": 1, "max_mem": "4G", "pool_servers": -1}).encode(), "pool_servers"),
    (json.dumps({"max_cpu": 1, "max_mem": "4G", "environments": ["cuda"]}).encode(), "environments"),
    (json.dumps({"max_cpu": 1, "max_mem": "4G", "colour": "red"}).encode(), "colour"),
])
def test_bad_documents_are_400_naming_the_field(quota_hub, body, field):
    _group(quota_hub, "validation")
    r = quota_hub.api("POST", "/mlops/quotas/validation", data=body)
    assert r.status_code == 400, r.text
    assert r.json()["message"].startswith(f"{field}:"), r.json()["message"]


def test_unknown_role_is_400(quota_hub):
    r = quota_hub.api("POST", "/mlops/quotas/no-such-group", json={"max_cpu": 1, "max_mem": "1G"})
    assert r.status_code == 400
    assert r.json()["message"].startswith("role: no JupyterHub group named 'no-such-group'")
    assert quota_hub.api("PUT", "/mlops/quotas/no-such-group",
                         json={"max_cpu": 1, "max_mem": "1G", "version": 1}).status_code == 400


def test_permissions(quota_hub):
    hub = quota_hub
    _group(hub, "perm")
    doc = {"max_cpu": 1, "max_mem": "1G"}
    for token in ("plain", "reader"):
        r = hub.api("POST", "/mlops/quotas/perm", token=token, json=doc)
        assert r.status_code == 403, r.text
        assert "custom:mlops-quotas:write" in r.json()["message"]
    assert hub.api("GET", "/mlops/quotas", token="plain").status_code == 403
    assert hub.api("GET", "/mlops/quotas/audit", token="plain").status_code == 403
    assert hub.api("GET", "/mlops/quotas", token="reader").status_code == 200
    r = hub.api("POST", "/mlops/quotas/perm", token="manager", json=doc)
    assert r.status_code == 201, r.text
    entries = hub.api("GET", "/mlops/quotas/audit?role=perm", token="reader").json()["entries"]
    assert entries[0]["actor"] == "service:manager-svc"
    r = hub.api("GET", "/mlops/quotas", headers={"Authorization": "token nonsense"})
    assert r.status_code == 403


def test_dry_run_saves_nothing(quota_hub):
    hub = quota_hub
    before = hub.api("GET", "/mlops/quotas/risk-models").json()
    r = hub.api("PUT", "/mlops/quotas/risk-models?dry_run=1",
                json={"max_cpu": 1, "max_mem": "1G", "pool_cpu": 1, "version": before["version"]})
    assert r.status_code == 200, r.text
    assert r.json()["dry_run"] is True and r.json()["would_exceed"] == [] and r.json()["pool_over"] == []
    after = hub.api("GET", "/mlops/quotas/risk-models").json()
    assert after["version"] == before["version"] and after["spec"] == before["spec"]
    r = hub.api("PUT", "/mlops/quotas/risk-models?dry_run=1", json={"max_cpu": "x", "max_mem": "1G"})
    assert r.status_code == 400


def test_a_version_that_is_not_a_whole_number_is_a_400_naming_it(quota_hub):
    hub = quota_hub
    assert hub.api("POST", "/groups/versions-team").status_code in (201, 409)
    doc = {"max_cpu": 1, "max_mem": "1G"}
    assert hub.api("POST", "/mlops/quotas/versions-team", json=doc).status_code == 201
    # JSON's Infinity (Python's json accepts and sends it), a huge float, a fraction, a word
    for raw in (b'{"max_cpu": 1, "max_mem": "1G", "version": Infinity}',
                b'{"max_cpu": 1, "max_mem": "1G", "version": 1e400}',
                b'{"max_cpu": 1, "max_mem": "1G", "version": 1.5}',
                b'{"max_cpu": 1, "max_mem": "1G", "version": "one"}'):
        r = hub.api("PUT", "/mlops/quotas/versions-team", data=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (raw, r.status_code, r.text[:300])
        assert r.json()["message"].startswith("version: expected a whole number"), r.text
    assert hub.api("GET", "/mlops/quotas/versions-team").json()["version"] == 1  # nothing saved
    hub.api("DELETE", "/mlops/quotas/versions-team?version=1")
