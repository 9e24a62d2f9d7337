"""Storage policy: safe, collision-free names for hostile user names; mounts per backend and role."""

from __future__ import annotations

import re

import pytest

from mlops_hub.policy.errors import ConfigError
from mlops_hub.policy.storage import parse_owner, role_folder, safe_name, storage_from_config

HOSTILE = ["../x", "..", ".", "a/b", "a\\b", "/etc/passwd", "", " ", "a.b", "a_b", "A.B", "a-b",
           "alice", "Alice", "ALICE", "x" * 500, "ünïcødé", "用户", "💥", "a\x00b", "a\nb", "-rf",
           "a,o=rw", "$(id)", "a" * 31 + "/", "a" * 31 + "_"]


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_name_is_a_single_safe_path_part(name):
    safe = safe_name(name)
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*-[0-9a-f]{16}", safe), safe
    assert safe not in (".", "..") and "/" not in safe
    assert len(safe) <= 32 + 1 + 16


def test_safe_name_never_collides_on_hostile_names():
    names = [safe_name(n) for n in HOSTILE]
    assert len(set(names)) == len(HOSTILE)


def test_safe_name_keeps_a_readable_slug_and_is_stable():
    assert safe_name("Alice.Smith").startswith("alice-smith-")
    assert safe_name("alice") == safe_name("alice")
    assert safe_name("a.b") != safe_name("a_b")


def test_role_folder_readable_when_already_safe():
    assert role_folder("scientists") == "scientists"
    assert role_folder("../etc") == safe_name("../etc")
    assert role_folder("Team A") != role_folder("team-a")


def _local(**extra):
    return storage_from_config({"backend": "local", **extra})


def test_local_backend_home_team_datasets():
    cfg = _local(roles={"scientists": {"team": True, "datasets": ["imagenet"]}, "analysts": {"team": True}})
    mounts = cfg.mounts("pfx", "../alice", ["scientists", "other"])
    by_kind = {m.kind: m for m in mounts}
    assert [m.kind for m in mounts] == ["home", "team", "datasets"]
    home = by_kind["home"]
    assert home.source == f"pfx-home-{safe_name('../alice')}" and home.target == "/home/jovyan"
    assert not home.read_only and home.driver_options is None
    assert by_kind["team"].source == f"pfx-team-{safe_name('scientists')}"
    assert by_kind["team"].target == "/home/jovyan/teams/scientists"
    ds = by_kind["datasets"]
    assert ds.read_only and ds.target == "/home/jovyan/datasets/imagenet" and ds.source == "pfx-datasets-imagenet"


def test_team_volume_shared_by_role_members_only():
    cfg = _local(roles={"scientists": {"team": True}})
    a = {m.source for m in cfg.mounts("p", "alice", ["scientists"])}
    b = {m.source for m in cfg.mounts("p", "bob", ["scientists"])}
    c = {m.source for m in cfg.mounts("p", "carol", ["analysts"])}
    assert len(a & b) == 1 and not (a & c) and not (b & c)


def test_nfs_backend_driver_options():
    cfg = storage_from_config({"backend": "nfs", "nfs": {"server": "10.0.0.5", "export": "/export/mlops",
                                                          "options": "nfsvers=4,soft"},
                               "roles": {"sci": {"team": True, "datasets": ["d1"]}}})
    home, team, ds = cfg.mounts("pfx", "a/b", ["sci"])
    assert home.driver_options == {"type": "nfs", "o": "addr=10.0.0.5,nfsvers=4,soft",
                                   "device": f":/export/mlops/home/{safe_name('a/b')}"}
    assert team.driver_options["device"] == f":/export/mlops/teams/{safe_name('sci')}"
    assert ds.read_only and ds.driver_options["o"].endswith(",ro")
    assert ds.driver_options["device"] == ":/export/mlops/datasets/d1"
    assert home.source.startswith(f"pfx-nfs-home-{safe_name('a/b')}-")


def test_nfs_volume_name_changes_with_options():
    def home(opts):
        cfg = storage_from_config({"backend": "nfs", "nfs": {"server": "nfs1", "export": "/e", "options": opts}})
        return cfg.mounts("p", "alice", [])[0].source
    assert home("nfsvers=4") != home("nfsvers=4.1")


@pytest.mark.parametrize("raw, setting", [
    ({"backend": "s3"}, "storage.backend"),
    ({"backend": "local", "bogus": 1}, "storage: unknown keys"),
    ({"backend": "nfs"}, "storage.nfs"),
    ({"backend": "nfs", "nfs": {"server": "x,o=rw", "export": "/e"}}, "storage.nfs.server"),
    ({"backend": "nfs", "nfs": {"server": "x", "export": "/e/../etc"}}, "storage.nfs.export"),
    ({"backend": "nfs", "nfs": {"server": "x", "export": "e"}}, "storage.nfs.export"),
    ({"backend": "nfs", "nfs": {"server": "x", "export": "/e", "options": "addr=1.2.3.4"}}, "storage.nfs.options"),
    ({"backend": "nfs", "nfs": {"server": "x", "export": "/e", "options": "a b"}}, "storage.nfs.options"),
    ({"backend": "local", "home_mount": "relative"}, "storage.home_mount"),
    ({"backend": "local", "owner": "jovyan"}, "storage.owner"),
    ({"backend": "local", "roles": {"r": {"datasets": ["../x"]}}}, "storage.roles['r'].datasets"),
    ({"backend": "local", "roles": {"r": {"datasets": "d"}}}, "storage.roles['r'].datasets"),
    ({"backend": "local", "roles": {"r": {"tea": True}}}, "storage.roles['r']"),
])
def test_bad_config_names_the_setting(raw, setting):
    with pytest.raises(ConfigError) as e:
        storage_from_config(raw)
    assert setting in str(e.value)


def test_no_storage_configured():
    assert storage_from_config(None) is None
    assert storage_from_config({}) is None


def test_owner_parsing():
    assert parse_owner("x", "1000:100") == (1000, 100)
    assert parse_owner("x", "1000") == (1000, 0)
    assert _local(owner="1001:101").owner == (1001, 101)
    with pytest.raises(ConfigError, match="x: expected numeric"):
        parse_owner("x", "jovyan")
