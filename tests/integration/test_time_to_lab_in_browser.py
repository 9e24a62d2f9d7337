"""From the spawn form's Start button to JupyterLab's launcher, in real Chromium, and what makes
that path quick: the spawn-pending page leaves on the progress stream's 'ready' event, and
JupyterLab loads without reaching outside the platform, with its static files compressed.
Functional checks only; bench/time_to_lab.py measures the time."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support.ports import free_port

from .lab_timeline import Timeline, lab_requests, wait_for_launcher

pytestmark = pytest.mark.swarm

LAUNCHER_WAIT_MS = 240_000  # how long to keep waiting for a spawn behind other work; not asserted


def test_start_button_leads_to_the_launcher_on_the_ready_event_without_outside_requests(
        hub, chromium):
    user = f"ttl-browser-{free_port() % 10000}"
    password = hub.account(user, ["analysts"])
    page = chromium.new_context().new_page()
    timeline = Timeline()
    timeline.attach(page)
    try:
        page.goto(f"{hub.url}/hub/login?next=%2Fhub%2Fspawn")
        page.fill("#username_input", user)
        page.fill("#password_input", password)
        page.click("#login_submit")
        page.wait_for_url("**/hub/spawn")
        timeline.reset()
        page.locator("#spawn_form [type=submit]").click()
        launcher_at = wait_for_launcher(page, LAUNCHER_WAIT_MS)

        # the progress stream carried our spawner's events and ended with 'ready', never 'failed'
        kinds = [kind for kind, _, _ in timeline.marks]
        assert "failed" not in kinds, timeline.marks
        assert kinds.count("ready") == 1, timeline.marks
        messages = [message for kind, _, message in timeline.marks if kind == "progress"]
        assert any("Server answering" in m for m in messages), messages
        # the spawn-pending page was left because of that event: the first request to the
        # user's server came after it, and the page showed the lab
        ready_at = timeline.first_mark("ready")
        to_server = [r for r in timeline.documents() if f"/user/{user}/" in r.url]
        assert to_server and min(r.start for r in to_server) >= ready_at - 0.001
        assert f"/user/{user}/lab" in page.url

        # nothing JupyterLab asked for left the platform (no news feed, no PyPI, no update check)
        hosts = {urlsplit(r.url).netloc for r in timeline.requests}
        assert hosts == {urlsplit(hub.url).netloc}, hosts
        config = page.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent)")
        assert config["news"] == {"disabled": True}

        # JupyterLab's own scripts came compressed through the proxy
        scripts = [r for r in lab_requests(timeline, user, launcher_at)
                   if "/static/lab/" in r.url and r.resource_type == "script" and r.status == 200]
        assert scripts, [r.url for r in timeline.requests]
        assert {r.encoding for r in scripts} == {"gzip"}, [(r.url, r.encoding) for r in scripts]
    finally:
        page.context.close()
        hub.stop(user)
