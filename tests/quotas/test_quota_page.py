"""The admin page: nav link for those allowed, usage table, edit form, history; 403 for others."""

from __future__ import annotations

import re


def _xsrf(html: str) -> str:
    return re.search(r'name="_xsrf" value="([^"]+)"', html).group(1)


def _form_version(html: str, role: str) -> str:
    one_form = r'<form[^>]*>(?:(?!</form>).)*name="role" value="' + re.escape(role) + r'"(?:(?!</form>).)*</form>'
    form = re.search(one_form, html, re.S)
    return re.search(r'name="version" value="(\d+)"', form.group(0)).group(1)


def test_admin_sees_link_page_and_edits_with_history(quota_hub):
    hub = quota_hub
    s = hub.login("boss")
    home = s.get(f"{hub.url}/hub/home", timeout=10)
    assert 'id="mlops-quotas-link"' in home.text
    page = s.get(f"{hub.url}/hub/mlops/quotas", timeout=10)
    assert page.status_code == 200, page.text[:500]
    assert 'id="quota-risk-models"' in page.text and "0 / 8" in page.text  # servers in use vs pool

    version = _form_version(page.text, "risk-models")
    form = {"_xsrf": _xsrf(page.text), "role": "risk-models", "version": version, "action": "save",
            "max_cpu": "4", "max_mem": "8G", "max_servers": "2", "environments": "*",
            "pool_cpu": "12", "pool_mem": "64G", "pool_servers": "8"}
    r = s.post(f"{hub.url}/hub/mlops/quotas", data=form, timeout=10)
    assert r.status_code == 200, r.text[:500]
    assert f"Saved role risk-models (version {int(version) + 1})" in r.text
    history = r.text.split('id="mlops-quota-history"')[1]
    assert "user:boss" in history
    # the change in words and units, not the raw JSON document in bytes
    assert "pool_cpu 16 -&gt; 12" in history
    assert "max_mem 8G" in history and '"max_mem":' not in history and str(8 * 1024**3) not in history
    assert hub.api("GET", "/mlops/quotas/risk-models").json()["spec"]["pool_cpu"] == 12.0

    # the same (now stale) form again: 409 with the reason, nothing saved
    r = s.post(f"{hub.url}/hub/mlops/quotas", data={**form, "pool_cpu": "99"}, timeout=10)
    assert r.status_code == 409 and "someone changed it" in r.text
    # a bad value: 400 naming the field
    fresh = s.get(f"{hub.url}/hub/mlops/quotas", timeout=10).text
    bad = {**form, "version": _form_version(fresh, "risk-models"), "pool_cpu": "1"}
    r = s.post(f"{hub.url}/hub/mlops/quotas", data=bad, timeout=10)
    assert r.status_code == 400 and "pool_cpu:" in r.text
    # dry run shows the result and saves nothing
    r = s.post(f"{hub.url}/hub/mlops/quotas", data={**bad, "pool_cpu": "4", "action": "dry_run"}, timeout=10)
    assert r.status_code == 200 and 'id="mlops-quota-dry-run"' in r.text
    assert hub.api("GET", "/mlops/quotas/risk-models").json()["spec"]["pool_cpu"] == 12.0


def test_quota_manager_group_may_edit_plain_user_gets_403(quota_hub):
    hub = quota_hub
    for name in ("manny", "pat"):
        assert hub.api("POST", f"/users/{name}").status_code in (201, 409)
    r = hub.api("POST", "/groups/quota-managers/users", json={"users": ["manny"]})
    assert r.status_code == 200, r.text

    manager = hub.login("manny")
    assert 'id="mlops-quotas-link"' in manager.get(f"{hub.url}/hub/home", timeout=10).text
    page = manager.get(f"{hub.url}/hub/mlops/quotas", timeout=10)
    assert page.status_code == 200
    form = {"_xsrf": _xsrf(page.text), "role": "default", "version": _form_version(page.text, "default"),
            "action": "save", "max_cpu": "1", "max_mem": "2G", "max_servers": "1", "environments": "python"}
    r = manager.post(f"{hub.url}/hub/mlops/quotas", data=form, timeout=10)
    assert r.status_code == 200 and "Saved role default" in r.text, r.text[:500]

    plain = hub.login("pat")
    assert 'id="mlops-quotas-link"' not in plain.get(f"{hub.url}/hub/home", timeout=10).text
    assert plain.get(f"{hub.url}/hub/mlops/quotas", timeout=10).status_code == 403
    r = plain.post(f"{hub.url}/hub/mlops/quotas", data={**form, "_xsrf": _xsrf(page.text)}, timeout=10)
    assert r.status_code == 403
