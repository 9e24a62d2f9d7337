"""Team pool arithmetic, refusal messages, headroom and dry-run excess (pure policy)."""

import pytest

from mlops_hub.policy.dry_run import servers_exceeding
from mlops_hub.policy.pools import (
    Charge,
    PoolRefusal,
    TeamPool,
    Usage,
    check_pool,
    headroom,
    usage_by_role,
)
from mlops_hub.policy.roles import RolePolicy

GiB = 1024**3


def test_refusal_names_team_limit_usage_and_request():
    pool = TeamPool("risk-models", cpu=16)
    with pytest.raises(PoolRefusal) as e:
        check_pool(pool, Usage(cpu=14, mem=0, servers=3), 4, GiB, "the ML platform team")
    assert str(e.value).startswith("Team risk-models uses 14 of 16 CPUs; you asked for 4.")
    assert "the ML platform team" in str(e.value)
    assert (e.value.dimension, e.value.used, e.value.limit, e.value.asked) == ("cpu", 14, 16, 4)


def test_exact_fit_is_admitted_and_one_more_is_not():
    pool = TeamPool("t", cpu=4, mem=8 * GiB, servers=4)
    check_pool(pool, Usage(3, 6 * GiB, 3), 1, 2 * GiB)
    with pytest.raises(PoolRefusal, match="runs 4 of 4 servers; you asked for 1 more"):
        check_pool(pool, Usage(3, 6 * GiB, 4), 0.1, GiB)
    with pytest.raises(PoolRefusal, match="uses 6G of 8G memory; you asked for 3G"):
        check_pool(pool, Usage(1, 6 * GiB, 1), 1, 3 * GiB)


def test_unlimited_pool_admits_anything():
    check_pool(TeamPool("t"), Usage(1000, 10**15, 1000), 64, 10**12)
    assert TeamPool("t").unlimited


def test_usage_and_headroom():
    charges = [Charge("a", "", "t", 1.5, GiB), Charge("b", "x", "t", 0.5, GiB), Charge("c", "", "u", 2, GiB)]
    usage = usage_by_role(charges)
    assert usage["t"] == Usage(2.0, 2 * GiB, 2)
    room = headroom(TeamPool("t", cpu=3, mem=None, servers=2), usage["t"])
    assert (room.cpu, room.mem, room.servers) == (1.0, None, 0)
    assert room.describe() == "0 server(s), 1 CPUs free"


def test_servers_exceeding_a_proposed_policy():
    charges = [Charge("a", "", "t", 2, 4 * GiB, "python"), Charge("a", "two", "t", 1, GiB, "torch"),
               Charge("b", "", "t", 1, GiB, "python"), Charge("c", "", "other", 8, 8 * GiB)]
    policy = RolePolicy("t", max_cpu=1, max_mem=2 * GiB, max_servers=1, environments=frozenset({"python"}),
                        pool_cpu=3, pool_servers=2)
    excess, over = servers_exceeding(charges, policy)
    by_server = {(e.user, e.server): e.reasons for e in excess}
    assert set(by_server) == {("a", ""), ("a", "two")}
    assert any("max_cpu" in r for r in by_server[("a", "")])
    assert any("environment 'torch'" in r for r in by_server[("a", "two")])
    assert over == ["team runs 3 servers > pool_servers 2", "team uses 4 CPUs > pool_cpu 3"]
