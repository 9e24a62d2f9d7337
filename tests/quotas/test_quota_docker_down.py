"""Docker unreachable: the API says so (503), the spawn form still renders, a spawn fails cleanly."""

from __future__ import annotations

import pytest

from tests.quotas.hub import HubProcess
from tests.support.ports import free_port


@pytest.fixture(scope="module")
def hub_without_docker(tmp_path_factory):
    # nothing listens on this port: every Docker call fails
    hub = HubProcess(f"sqlite:///{tmp_path_factory.mktemp('nodocker')}/jupyterhub.sqlite",
                     env={"DOCKER_HOST": f"tcp://127.0.0.1:{free_port()}"}).start()
    yield hub
    hub.remove()


def test_usage_unavailable_is_503_and_form_still_renders(hub_without_docker):
    hub = hub_without_docker
    r = hub.api("GET", "/mlops/quotas")
    assert r.status_code == 503 and "cannot read the running servers from Docker" in r.json()["message"]
    # the audit log needs no Docker
    assert hub.api("GET", "/mlops/quotas/audit").status_code == 200
    assert hub.api("POST", "/groups/risk-models").status_code in (201, 409)
    assert hub.api("POST", "/users/ria").status_code in (201, 409)
    assert hub.api("POST", "/groups/risk-models/users", json={"users": ["ria"]}).status_code == 200
    form = hub.login("ria").get(f"{hub.url}/hub/spawn", timeout=10)
    assert form.status_code == 200 and 'name="cpu_limit"' in form.text
    assert "Room left in your team pools" not in form.text
    r = hub.api("POST", "/users/ria/server", json={"environment": "python", "cpu_limit": 1})
    assert r.status_code == 500, r.text
    assert hub.api("GET", "/users/ria").json()["servers"] == {}
