"""`mlops-hub doctor`'s overlay probe on this machine's real swarm: it works, and leaves nothing behind."""

from __future__ import annotations

import subprocess
import time

import pytest

from mlops_hub.deploy import doctor

pytestmark = pytest.mark.swarm


def leftovers() -> list[str]:
    """Services, networks and containers of any probe (by name prefix)."""
    found = []
    for argv in (["service", "ls"], ["network", "ls"], ["ps", "-a"]):
        out = subprocess.run(["docker", *argv, "--format", "{{.Names}}" if argv[0] == "ps" else "{{.Name}}",
                              "--filter", f"name={doctor.PROBE_PREFIX}"], capture_output=True, text=True, check=True)
        found += [f"{argv[0]} {name}" for name in out.stdout.split()]
    return found


def wait_for_no_containers(deadline_s: float = 30) -> list[str]:
    """Swarm removes a removed service's stopped containers shortly after; a readiness wait, no timing check."""
    deadline = time.monotonic() + deadline_s
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.5)
    return leftovers()


def test_the_probe_reaches_a_service_by_name_and_removes_what_it_made():
    said = []
    found = doctor.overlay_probe(said.append)
    assert found.status == doctor.OK, found
    assert said[0].startswith(f"overlay probe: network {doctor.PROBE_PREFIX}-") and said[-1] == "overlay probe: removed"
    # no service and no network remain the moment it returns
    assert [x for x in leftovers() if not x.startswith("ps ")] == []
    assert wait_for_no_containers() == []


def test_a_probe_that_cannot_reach_fails_with_the_fix_and_still_cleans_up(monkeypatch):
    monkeypatch.setattr(doctor, "PROBE_CLIENT", "import sys; sys.exit('unreachable')")
    found = doctor.overlay_probe(lambda line: None, timeout=60)
    assert found.status == doctor.FAIL and "did not reach" in found.message and "docker swarm init" in found.fix
    assert [x for x in leftovers() if not x.startswith("ps ")] == []
    assert wait_for_no_containers() == []
