"""Who an OIDC login is and what it may do, through a real OpenID Provider and a real hub:
group names map 1:1, rights come only from the configured groups, the username from the chosen
claim, and a username stays with the provider account (`sub`) that first used it."""

from __future__ import annotations

import pytest
import requests

from .flow import oidc_attempt, oidc_login, provider_and_hub, user_token

# the provider's account id is the `sub` claim
ACCOUNTS = {
    # a GitLab user may create a group `platform.admins`; the admin group is `platform/admins`
    "mallory": {"preferred_username": "mallory", "groups": ["platform.admins", "staff"]},
    "gabe": {"preferred_username": "gabe", "groups": ["platform/admins"]},
    # a provider group named like the hub's role-bearing quota-manager group
    "quinn": {"preferred_username": "quinn", "groups": ["quota-managers", "staff"]},
    "maya": {"preferred_username": "maya", "groups": ["ops/quota"]},
    # the shared-password login's bootstrap admin name, with a provider group `admin` too
    "admin": {"preferred_username": "admin", "groups": ["staff", "admin"]},
    # two provider accounts claiming one username
    "eve-a": {"preferred_username": "eve", "groups": ["staff"]},
    "eve-b": {"preferred_username": "Eve", "groups": ["staff"]},
    "anon": {"name": "No Username", "groups": ["staff"]},
    # two names for one hub group, and a name with an invisible character
    "amb": {"preferred_username": "amb", "groups": ["/team-x", "team-x", "ok-team", "bad\u200bname"]},
    # `ops.quota` is not the allowed group `ops/quota`
    "spoof": {"preferred_username": "spoof", "groups": ["ops.quota"]},
}


@pytest.fixture(scope="module")
def idp_and_hub(tmp_path_factory):
    with provider_and_hub(tmp_path_factory.mktemp("oidc-identity"), ACCOUNTS,
                          MLOPS_OIDC_ADMIN_GROUPS="platform/admins", MLOPS_OIDC_QUOTA_MANAGER_GROUPS="ops/quota",
                          MLOPS_OIDC_ALLOWED_GROUPS="staff,ops/quota,ok-team") as running:
        yield running


def quota_dry_run(hub, token: str) -> requests.Response:
    """A quota edit that saves nothing (dry run): 200 for a quota manager, 403 for anyone else."""
    version = hub.api("GET", "/mlops/quotas/risk-models").json()["version"]
    return requests.put(f"{hub.url}/hub/api/mlops/quotas/risk-models?dry_run=1", timeout=30,
                        headers={"Authorization": f"token {token}"},
                        json={"max_cpu": 1, "max_mem": "1G", "version": version})


def test_a_dotted_group_is_not_the_slashed_admin_group(idp_and_hub):
    _, hub = idp_and_hub
    oidc_login(hub, "mallory")
    mallory = hub.api("GET", "/users/mallory").json()
    assert mallory["admin"] is False
    assert sorted(mallory["groups"]) == ["platform+.admins", "staff"]
    oidc_login(hub, "gabe")
    gabe = hub.api("GET", "/users/gabe").json()
    assert gabe["admin"] is True and gabe["groups"] == ["platform.admins"]


def test_a_provider_group_named_quota_managers_grants_nothing(idp_and_hub):
    _, hub = idp_and_hub
    oidc_login(hub, "quinn")
    assert hub.api("GET", "/users/quinn").json()["groups"] == ["staff"]
    r = quota_dry_run(hub, user_token(hub, "quinn"))
    assert r.status_code == 403 and "custom:mlops-quotas:write" in r.json()["message"], r.text
    assert "OIDC group 'quota-managers' of 'quinn' not used" in hub.logs()


def test_the_configured_quota_manager_group_grants_quota_editing(idp_and_hub):
    _, hub = idp_and_hub
    oidc_login(hub, "maya")
    maya = hub.api("GET", "/users/maya").json()
    assert sorted(maya["groups"]) == ["ops.quota", "quota-managers"] and maya["admin"] is False
    r = quota_dry_run(hub, user_token(hub, "maya"))
    assert r.status_code == 200 and r.json()["dry_run"] is True, r.text


def test_a_provider_user_named_admin_is_an_ordinary_user(idp_and_hub):
    _, hub = idp_and_hub
    oidc_login(hub, "admin")
    admin = hub.api("GET", "/users/admin").json()
    assert admin["admin"] is False and sorted(admin["groups"]) == ["admin", "staff"]
    assert hub.api("GET", "/users", headers={"Authorization": f"token {user_token(hub, 'admin')}"}
                   ).status_code == 403


def test_a_login_without_the_username_claim_is_refused(idp_and_hub):
    _, hub = idp_and_hub
    before = {u["name"] for u in hub.api("GET", "/users").json()}
    _, page = oidc_attempt(hub, "anon")
    assert page.status_code == 403, page.text[:500]
    assert "no &#39;preferred_username&#39; claim" in page.text or "no 'preferred_username' claim" in page.text
    assert "MLOPS_OIDC_USERNAME_CLAIM" in hub.logs()
    assert {u["name"] for u in hub.api("GET", "/users").json()} == before


def test_ambiguous_and_unmappable_groups_are_refused_with_a_logged_reason(idp_and_hub):
    _, hub = idp_and_hub
    oidc_login(hub, "amb")
    assert hub.api("GET", "/users/amb").json()["groups"] == ["ok-team"]
    logs = hub.logs()
    assert "OIDC group '/team-x' of 'amb' not used: ambiguous" in logs
    assert "OIDC group 'team-x' of 'amb' not used: ambiguous" in logs
    assert "OIDC group 'bad\\u200bname' of 'amb' not used: contains control or invisible" in logs


def test_a_dotted_group_is_not_the_slashed_allowed_group(idp_and_hub):
    _, hub = idp_and_hub
    _, page = oidc_attempt(hub, "spoof")
    assert page.status_code == 403, page.text[:500]
    assert hub.api("GET", "/users/spoof").status_code == 404


def test_a_second_subject_for_a_username_is_refused_even_after_a_restart(idp_and_hub):
    _, hub = idp_and_hub
    oidc_login(hub, "eve-a")
    _, page = oidc_attempt(hub, "eve-b")  # preferred_username "Eve": the hub user "eve" too
    assert page.status_code == 403, page.text[:500]
    assert "belongs to another account at the identity provider" in page.text
    assert "subject 'eve-b' of" in hub.logs() and "claims hub user 'eve', bound to subject 'eve-a'" in hub.logs()
    # the binding is in the hub's database: it outlives the hub process
    hub.stop()
    hub.start()
    _, page = oidc_attempt(hub, "eve-b")
    assert page.status_code == 403, page.text[:500]
    oidc_login(hub, "eve-a")


def test_the_hub_does_not_start_without_allowed_groups(tmp_path):
    with pytest.raises(RuntimeError, match="hub exited") as refused:
        with provider_and_hub(tmp_path, ACCOUNTS):
            pass
    assert "MLOPS_OIDC_ALLOWED_GROUPS: required" in str(refused.value)
    assert "MLOPS_OIDC_ALLOW_EVERYONE=1" in str(refused.value)
