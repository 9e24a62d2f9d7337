"""OIDC login through the deployed stack: a real OpenID Provider (npm oidc-provider), the hub as a
Swarm service configured only by MLOPS_OIDC_* and the client secret as a Swarm secret, and
Chromium clicking through the provider's login. The groups claim picks the role and its limits.

The provider listens on the docker_gwbridge gateway address: the browser (on this host) and the
hub (in its container) reach the same issuer URL, as they would reach a real Keycloak.
"""

from __future__ import annotations

import json
import os

import docker
import pytest

from tests.oidc.provider import OpenIDProvider

from .dockerlogs import service_container_logs
from .own_stack import deploy_stack, remove_stack, stack_settings

pytestmark = pytest.mark.swarm

STACK = f"{os.environ.get('MLOPS_TEST_STACK', 'mlopstest')}-oidc"
ACCOUNTS = {
    # Keycloak sends group paths with a leading '/'
    "olga": {"preferred_username": "olga", "email": "olga@example.org", "groups": ["/risk-models", "staff"]},
    "ivan": {"preferred_username": "ivan", "groups": ["platform/admins"]},
    # jupyterhub_config.py's bootstrap admin name and its quota-manager group, both from the provider
    "admin": {"preferred_username": "admin", "groups": ["staff", "quota-managers"]},
}


def gateway_address() -> str:
    """The host's address on docker_gwbridge, which every Swarm container can reach."""
    network = docker.APIClient().inspect_network("docker_gwbridge")
    return network["IPAM"]["Config"][0]["Gateway"]


@pytest.fixture(scope="module")
def oidc_stack(images, tmp_path_factory):
    spawner = {
        "environments": [{"slug": "python", "display_name": "Python", "image": images["lab-base"], "default": True}],
        "role_policies": {
            "default": {"max_cpu": 0.25, "max_mem": "512M", "max_servers": 1},
            "risk-models": {"max_cpu": 0.5, "max_mem": "1G", "environments": ["python"], "max_servers": 1},
        },
    }
    settings = stack_settings(STACK, images, spawner, tmp_path_factory.mktemp("oidc-state"))
    idp = OpenIDProvider(f"{settings.url}/hub/oauth_callback", ACCOUNTS, host=gateway_address()).start()
    settings.oidc_client_secret_file = idp.secret_file
    settings.extra_env = {
        **settings.extra_env,
        "MLOPS_OIDC_ISSUER": idp.issuer, "MLOPS_OIDC_CLIENT_ID": idp.client_id,
        "MLOPS_OIDC_CALLBACK_URL": f"{settings.url}/hub/oauth_callback",
        "MLOPS_OIDC_SCOPES": "openid profile email groups", "MLOPS_OIDC_ADMIN_GROUPS": "platform/admins",
        "MLOPS_OIDC_ALLOWED_GROUPS": "staff",  # ivan is let in as an admin
    }
    try:
        hub = deploy_stack(settings)
    except Exception:
        idp.stop()
        raise
    yield hub, idp
    if not os.environ.get("MLOPS_TEST_KEEP_STACK"):
        remove_stack(settings)
    idp.stop()


def oidc_login(chromium, hub_url: str, login: str, next_path: str):
    """The hub's login button -> the provider's sign-in and consent forms -> back at the hub."""
    page = chromium.new_context().new_page()
    page.goto(f"{hub_url}/hub/oauth_login?next={next_path}")
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', "any")  # the provider's dev login takes any password
    page.click('button[type="submit"]')
    # the provider asks for consent on a first login, then sends the browser back to the hub
    consent = page.locator('input[name="prompt"][value="consent"]')
    for _ in range(300):
        if page.url.startswith(hub_url):
            break
        if consent.count():
            page.click('button[type="submit"]')
            break
        page.wait_for_timeout(100)
    page.wait_for_url(f"{hub_url}{next_path}**")
    return page


def test_groups_claim_picks_role_and_limits_through_the_deployed_stack(oidc_stack, chromium):
    hub, idp = oidc_stack
    page = oidc_login(chromium, hub.url, "olga", "/hub/spawn")
    options = page.locator(".mlops-hub-options").inner_text()
    assert "risk-models" in options and "up to 0.5 CPUs" in options, options
    user = hub.api("GET", "/users/olga").json()
    assert sorted(user["groups"]) == ["risk-models", "staff"] and user["admin"] is False

    page.locator("#cpu_limit").fill("0.5")
    page.locator("#mem_limit").fill("1")
    page.locator("#spawn_form [type=submit]").click()
    page.wait_for_url("**/user/olga/lab**", timeout=180_000)
    service = hub.only_service("olga")
    assert service["Spec"]["Labels"]["mlops-hub.role"] == "risk-models"
    assert service["Spec"]["TaskTemplate"]["Resources"]["Limits"]["NanoCPUs"] == 500_000_000
    hub.stop("olga")

    # the client secret is a Swarm secret: not in the hub's spec, environment or log
    client_secret = idp.secret_file.read_text().strip()
    spec = hub.docker.inspect_service(f"{hub.stack}_hub")
    assert client_secret not in json.dumps(spec)
    assert [s["SecretName"] for s in spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
            if s["File"]["Name"] == "oidc_client_secret"]
    assert client_secret not in service_container_logs(hub.docker, f"{hub.stack}_hub")


def test_admin_group_makes_a_hub_admin_who_sees_the_quota_page(oidc_stack, chromium):
    hub, _ = oidc_stack
    page = oidc_login(chromium, hub.url, "ivan", "/hub/home")
    assert hub.api("GET", "/users/ivan").json()["admin"] is True
    page.click("#mlops-quotas-link")
    page.wait_for_url("**/hub/mlops/quotas")
    assert page.locator("#quota-risk-models").count() == 1


def test_the_bootstrap_admin_name_and_a_quota_managers_group_grant_nothing(oidc_stack, chromium):
    """The deployed jupyterhub_config.py: MLOPS_HUB_ADMIN_USERS' default `admin` and the role-bearing
    `quota-managers` group (configured after the login) are out of a provider account's reach."""
    hub, _ = oidc_stack
    oidc_login(chromium, hub.url, "admin", "/hub/home")
    user = hub.api("GET", "/users/admin").json()
    assert user["admin"] is False and user["groups"] == ["staff"]
    logs = service_container_logs(hub.docker, f"{hub.stack}_hub")
    assert "OIDC group 'quota-managers' of 'admin' not used" in logs
    assert "MLOPS_HUB_ADMIN_USERS (admin) ignored with OIDC login" in logs
