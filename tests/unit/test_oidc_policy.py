"""The OIDC identity rules without a provider: 1:1 group names, rights from configured groups only,
the username claim, the subject binding decision."""

import itertools

import pytest

from mlops_hub.hub.oidc_policy import (
    GroupRules,
    Refused,
    decide_groups,
    hub_group_name,
    hub_group_names,
    parse_switch,
    provider_group,
    role_groups,
    subject_conflict,
    subject_from,
    username_from,
)


@pytest.mark.parametrize("raw, name", [
    ("/risk-models", "risk-models"),          # Keycloak's full path
    ("ml/risk-models", "ml.risk-models"),     # GitLab's full path
    ("/ml/risk-models", "ml.risk-models"),
    ("platform.admins", "platform+.admins"),  # a '.' of the provider's own is escaped
    ("a+b", "a++b"),
    ("Data Science", "Data Science"),
    ("équipe/modèles", "équipe.modèles"),
])
def test_group_names(raw, name):
    assert hub_group_name(raw) == name
    assert provider_group(name) == raw.removeprefix("/")


def test_the_mapping_is_one_to_one():
    """Every path over the characters that matter, up to 5 long: no two map to one hub group."""
    seen = {}
    for n in range(1, 6):
        for chars in itertools.product("a./+", repeat=n):
            raw = "".join(chars)
            try:
                name = hub_group_name(raw)
            except Refused:
                continue
            other = seen.setdefault(name, raw.removeprefix("/"))
            assert other == raw.removeprefix("/"), (raw, other, name)
            assert provider_group(name) == raw.removeprefix("/")


@pytest.mark.parametrize("raw, reason", [
    ("", "empty"), ("/", "empty"), (" admins", "blank space"), ("admins ", "blank space"),
    ("ad\u200bmins", "control or invisible"), ("ad\nmins", "control or invisible"),
    ("x" * 256, "longer than 255"), (5, "not a string"), (None, "not a string"),
])
def test_unmappable_groups_are_refused_with_a_reason(raw, reason):
    with pytest.raises(Refused, match=reason):
        hub_group_name(raw)


RULES = GroupRules(admin=frozenset({"platform.admins"}), quota_managers=frozenset({"ops.quota"}),
                   quota_manager_group="quota-managers", reserved=frozenset({"svc-writers"}))


def test_admin_only_from_the_admin_groups():
    assert decide_groups(["platform/admins"], RULES).admin is True
    assert decide_groups(["/platform/admins"], RULES).admin is True
    d = decide_groups(["platform.admins", "admin", "admins"], RULES)
    assert d.admin is False and d.groups == ["admin", "admins", "platform+.admins"]


def test_role_bearing_hub_groups_only_from_configuration():
    d = decide_groups(["quota-managers", "/svc-writers", "staff"], RULES)
    assert d.groups == ["staff"]
    assert set(d.refused) == {"quota-managers", "/svc-writers"}
    assert "grants a role" in d.refused["quota-managers"]
    assert decide_groups(["ops/quota"], RULES).groups == ["ops.quota", "quota-managers"]
    # no quota-manager group configured: nothing to join
    off = GroupRules(quota_managers=frozenset({"ops.quota"}))
    assert decide_groups(["ops/quota"], off).groups == ["ops.quota"]


def test_two_provider_names_for_one_group_are_both_refused():
    d = decide_groups(["/team", "team", "other", 7], RULES)
    assert d.groups == ["other"]
    assert d.refused["/team"].startswith("ambiguous") and d.refused["team"].startswith("ambiguous")
    assert "not a string" in d.refused["7"]


@pytest.mark.parametrize("claim, groups", [("solo", ["solo"]), (None, []), ([], []), (["a", "a"], ["a"])])
def test_claim_shapes(claim, groups):
    # a repeated name is one group, not an ambiguity
    assert decide_groups(claim, GroupRules()).groups == groups


def test_configured_group_lists_name_the_variable():
    assert hub_group_names("V", " /a , b/c ,,") == {"a", "b.c"}
    assert hub_group_names("V", None) == frozenset()
    with pytest.raises(Refused, match="^MLOPS_OIDC_ADMIN_GROUPS: group 'x\\\\x00' cannot be used"):
        hub_group_names("MLOPS_OIDC_ADMIN_GROUPS", "ok,x\x00")


def test_username_claim():
    assert username_from({"preferred_username": "Rita"}, "preferred_username") == "Rita"
    assert username_from({"email": "r@example.org"}, "email") == "r@example.org"
    for info in ({}, {"preferred_username": ""}, {"preferred_username": None}):
        with pytest.raises(Refused, match="no 'preferred_username' claim.*MLOPS_OIDC_USERNAME_CLAIM"):
            username_from(info, "preferred_username")
    for bad in (["rita"], 5, " rita", "ri\tta", "a/b", "x" * 256):
        with pytest.raises(Refused, match="'preferred_username' claim"):
            username_from({"preferred_username": bad}, "preferred_username")


def test_subject():
    assert subject_from({"sub": "123"}) == "123"
    for info in ({}, {"sub": ""}, {"sub": 5}):
        with pytest.raises(Refused, match="'sub'"):
            subject_from(info)
    assert subject_conflict("eve", None, "https://idp", "a") is None
    assert subject_conflict("eve", ("https://idp", "a"), "https://idp", "a") is None
    assert "belongs to another account" in subject_conflict("eve", ("https://idp", "a"), "https://idp", "b")
    # the same sub from another issuer is another account
    assert subject_conflict("eve", ("https://old-idp", "a"), "https://idp", "a")


def test_switch():
    assert parse_switch("V", "1") and parse_switch("V", "TRUE") and parse_switch("V", "yes")
    assert not parse_switch("V", None) and not parse_switch("V", "0") and not parse_switch("V", "")
    with pytest.raises(Refused, match="^V: expected 1/true/yes"):
        parse_switch("V", "everyone")


def test_role_groups():
    roles = [{"name": "admin", "services": ["cli"]}, {"name": "m", "scopes": [], "groups": ["quota-managers"]}]
    assert role_groups(roles) == {"quota-managers"}
