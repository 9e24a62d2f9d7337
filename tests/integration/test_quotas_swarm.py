"""Team pools on the real swarm: atomic admission under a spawn storm, usage kept across a hub restart.

Requests are small (0.1 CPU, reserving 0.05) so other stacks on the same node leave room for them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import free_port

pytestmark = pytest.mark.swarm

REQUEST = {"environment": "python", "cpu_limit": 0.1, "mem_limit": "512M"}
REFUSAL = "Team {team} uses 0.4 of 0.4 CPUs; you asked for 0.1."




def test_spawn_storm_fills_pool_exactly_and_usage_survives_hub_restart(hub, stack_settings):
    team = f"race-{free_port() % 10000}"
    users = [f"{team}-u{i:02d}" for i in range(21)]
    for user in users:
        hub.create_user(user, [team])
    r = hub.api("POST", f"/mlops/quotas/{team}",
                json={"max_cpu": 0.25, "max_mem": "1G", "environments": ["python"], "max_servers": 1,
                      "pool_cpu": 0.4, "pool_mem": "8G", "pool_servers": 10})
    assert r.status_code == 201, r.text
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(lambda u: (u, hub.spawn(u, REQUEST)), users[:20]))
        started = [u for u, a in answers if a.status_code in (201, 202)]
        refused = [(u, a) for u, a in answers if a.status_code == 403]
        assert (len(started), len(refused)) == (4, 16), [(u, a.status_code, a.text[:200]) for u, a in answers]
        for _, a in refused:
            assert a.json()["message"].startswith(REFUSAL.format(team=team)), a.text
        for user in started:
            hub.wait_ready(user)
        # refused spawns created nothing; the four run with the request recorded on the service
        services = [s for s in hub.user_services() if s["Spec"]["Labels"].get("mlops-hub.role") == team]
        assert sorted(s["Spec"]["Labels"]["mlops-hub.user"] for s in services) == sorted(started)
        assert {(s["Spec"]["Labels"]["mlops-hub.cpu"], s["Spec"]["Labels"]["mlops-hub.mem"]) for s in services} \
            == {("0.1", str(512 * 1024**2))}
        for user, _ in refused:
            assert hub.user_services(user) == []

        usage = hub.api("GET", f"/mlops/quotas/{team}").json()["usage"]
        assert usage == {"servers": 4, "cpu": 0.4, "mem": 4 * 512 * 1024**2}

        # the spawn form shows the user's headroom in the team pool
        password = hub.account(refused[0][0])
        form = hub.login(refused[0][0], password).get(f"{hub.url}/hub/spawn", timeout=10)
        assert f"Team <strong>{team}</strong>: 6 server(s), 0 CPUs, 6G memory free" in form.text, form.text[-1500:]

        hub.restart_hub(stack_settings)

        assert hub.api("GET", f"/mlops/quotas/{team}").json()["usage"] == usage
        late = users[20]
        r = hub.spawn(late, REQUEST)
        assert r.status_code == 403 and r.json()["message"].startswith(REFUSAL.format(team=team)), r.text
        assert hub.user_services(late) == []

        hub.stop(started[0])
        assert hub.api("GET", f"/mlops/quotas/{team}").json()["usage"]["servers"] == 3
        r = hub.spawn(late, REQUEST)
        assert r.status_code in (201, 202), r.text
        hub.wait_ready(late)
        r = hub.spawn(refused[1][0], REQUEST)
        assert r.status_code == 403, r.text
    finally:
        hub.remove_team(team, users)
    assert [s for s in hub.user_services() if s["Spec"]["Labels"].get("mlops-hub.role") == team] == []
