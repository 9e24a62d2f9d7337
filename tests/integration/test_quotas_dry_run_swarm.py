"""Dry run against real running servers: lists what a tighter policy would not allow, saves nothing."""

from __future__ import annotations

import pytest

from .conftest import free_port

pytestmark = pytest.mark.swarm

MiB = 1024**2


def test_dry_run_lists_running_servers_over_the_new_policy(hub):
    team = f"dry-{free_port() % 10000}"
    users = [f"{team}-u{i}" for i in range(2)]
    for user in users:
        hub.create_user(user, [team])
    r = hub.api("POST", f"/mlops/quotas/{team}", json={"max_cpu": 0.25, "max_mem": "1G", "environments": ["python"],
                                                        "pool_cpu": 1, "pool_servers": 4})
    assert r.status_code == 201, r.text
    try:
        for user in users:
            r = hub.spawn(user, {"environment": "python", "cpu_limit": 0.1, "mem_limit": "768M"})
            assert r.status_code in (201, 202), r.text
        for user in users:
            hub.wait_ready(user)
        before = hub.api("GET", f"/mlops/quotas/{team}").json()
        # 512M: the least a role may allow for the python environment (its min_mem)
        tighter = {"max_cpu": 0.25, "max_mem": "512M", "environments": ["python"], "pool_cpu": 1,
                   "pool_servers": 1, "version": before["version"]}
        r = hub.api("PUT", f"/mlops/quotas/{team}?dry_run=1", json=tighter)
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["dry_run"] is True
        assert sorted(e["user"] for e in result["would_exceed"]) == sorted(users)
        assert all(e["reasons"] == ["mem 768M > max_mem 512M"] for e in result["would_exceed"]), result
        assert result["pool_over"] == ["team runs 2 servers > pool_servers 1"]
        assert result["usage"] == {"servers": 2, "cpu": 0.2, "mem": 2 * 768 * MiB}
        after = hub.api("GET", f"/mlops/quotas/{team}").json()
        assert (after["version"], after["spec"]) == (before["version"], before["spec"])
        # the same document with the loosest memory: nothing exceeds it
        r = hub.api("PUT", f"/mlops/quotas/{team}?dry_run=1", json={**tighter, "max_mem": "1G", "pool_servers": 2})
        assert (r.json()["would_exceed"], r.json()["pool_over"]) == ([], [])
    finally:
        hub.remove_team(team, users)
    assert [s for s in hub.user_services() if s["Spec"]["Labels"].get("mlops-hub.role") == team] == []
