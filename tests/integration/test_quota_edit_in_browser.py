"""An admin changes a role's limits in the browser; the next spawn, also from the browser, obeys them.

Real Chromium (Debian's, driven by Playwright) against the deployed stack: login pages, the nav
link, the quota form, the spawn form and JupyterLab loading at the end.
"""

from __future__ import annotations

import pytest

from . import browser
from .conftest import free_port

pytestmark = pytest.mark.swarm


def test_admin_lowers_a_role_limit_in_the_browser_and_the_next_spawn_obeys(hub, chromium):
    team = f"browser-team-{free_port() % 10000}"
    user = f"{team}-ann"
    password = hub.account(user, [team])
    r = hub.api("POST", f"/mlops/quotas/{team}",
                json={"max_cpu": 2, "max_mem": "2G", "environments": ["python"], "max_servers": 1})
    assert r.status_code == 201, r.text
    try:
        admin = browser.login(chromium, hub.url, "admin", hub.admin_password)
        admin.click("#mlops-quotas-link")
        admin.wait_for_url("**/hub/mlops/quotas")
        row = admin.locator(f"#quota-{team}")
        assert "2 CPUs" in row.inner_text()
        form = admin.locator("form", has=admin.locator(f'input[name="role"][value="{team}"]'))
        form.locator('input[name="max_cpu"]').fill("0.5")
        form.locator('button[value="save"]').click()
        # the status line exists only on the page the save answers with
        assert f"Saved role {team} (version 2)" in admin.locator("[role=status]").inner_text()
        assert "0.5 CPUs" in admin.locator(f"#quota-{team}").inner_text()
        newest = admin.locator("#mlops-quota-history tbody tr").first.inner_text()
        # the change in words and units, not the stored JSON
        assert "user:admin" in newest and team in newest and "max_cpu 2 -> 0.5" in newest, newest
        audit = hub.api("GET", f"/mlops/quotas/audit?role={team}").json()
        assert audit["entries"][0]["actor"] == "user:admin"
        assert (audit["entries"][0]["before"]["max_cpu"], audit["entries"][0]["after"]["max_cpu"]) == (2.0, 0.5)

        page = browser.login(chromium, hub.url, user, password)
        page.goto(f"{hub.url}/hub/spawn")
        assert "up to 0.5 CPUs" in page.locator(".mlops-hub-options").inner_text()
        cpu = page.locator("#cpu_limit")
        assert cpu.get_attribute("max") == "0.5"
        # the browser itself refuses 1 CPU: the form stays and says why
        cpu.fill("1")
        page.locator("#spawn_form [type=submit]").click()
        assert cpu.evaluate("el => el.validationMessage")
        assert "/hub/spawn" in page.url and hub.user_services(user) == []
        # with the form's own check removed, the hub refuses it as well and starts nothing
        cpu.evaluate("el => el.removeAttribute('max')")
        page.locator("#spawn_form [type=submit]").click()
        error = page.locator(".spawn-error-msg").inner_text()  # waits for the hub's answer
        assert "cpu_limit" in error and "0.1 to 0.5 CPUs" in error, error
        assert hub.user_services(user) == []

        page.locator("#cpu_limit").fill("0.5")
        page.locator("#mem_limit").fill("1")
        page.locator("#spawn_form [type=submit]").click()
        page.wait_for_url(f"**/user/{user}/lab**", timeout=180_000)
        limits = hub.only_service(user)["Spec"]["TaskTemplate"]["Resources"]["Limits"]
        assert limits == {"NanoCPUs": 500_000_000, "MemoryBytes": 1024**3}
    finally:
        hub.remove_team(team, [user])
