"""A test run that was killed leaves its stacks on the swarm; the next run removes exactly those (run_claims.py).

Leftover stacks hold their hub's, Airflow's and servers' reservations: the run after a killed one would have its
spawns refused or starved. Stacks of a run still going, and stacks of other names, stay."""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest

from . import run_claims
from .conftest import remove_stacks_of_a_gone_run

pytestmark = pytest.mark.swarm

TINY_STACK = """
version: "3.8"
services:
  idle:
    image: {image}
    command: ["sleep", "infinity"]
    deploy:
      resources: {{reservations: {{cpus: "0.01", memory: 8M}}}}
"""


def stacks() -> set[str]:
    return set(subprocess.run(["docker", "stack", "ls", "--format", "{{.Name}}"], capture_output=True, text=True,
                              check=True).stdout.split())


def test_the_stacks_of_a_killed_run_are_removed_and_others_stay(images, stack_settings, tmp_path):
    gone, beside = f"mlopsgone{secrets.token_hex(3)}", f"mlopsbeside{secrets.token_hex(3)}"
    compose = tmp_path / "stack.yml"
    compose.write_text(TINY_STACK.format(image=images["base"]))
    # the killed run's stack and one of its own stacks; a run still going; a name that only starts like it
    names = [gone, f"{gone}-storage", beside, f"{gone}x"]
    try:
        for name in names:
            subprocess.run(["docker", "stack", "deploy", "-c", str(compose), name], check=True, capture_output=True)
        # a model its hub served on its network: not in the stack file, gone with it all the same
        subprocess.run(["docker", "service", "create", "-d", "--name", f"model-{gone}", "--network",
                        f"{gone}_default", images["base"], "sleep", "infinity"], check=True, capture_output=True)
        runs = tmp_path / "runs"
        runs.mkdir()
        (runs / gone).write_text("999999 " + run_claims.boot_id())  # its pytest is gone
        (runs / beside).write_text(f"{os.getpid()} {run_claims.boot_id()}")  # this pytest: alive
        stale = run_claims.claim("mlopsme", runs)
        assert stale == [gone]
        for name in stale:
            remove_stacks_of_a_gone_run(stack_settings, name)
            run_claims.release(name, runs)
        left = stacks()
        assert gone not in left and f"{gone}-storage" not in left, left
        assert beside in left and f"{gone}x" in left, left
        served = subprocess.run(["docker", "service", "ls", "-q", "--filter", f"name=model-{gone}"],
                                capture_output=True, text=True, check=True).stdout.split()
        assert served == []
        assert sorted(p.name for p in runs.iterdir()) == sorted([beside, "mlopsme"])
    finally:
        subprocess.run(["docker", "service", "rm", f"model-{gone}"], capture_output=True)
        for name in names:
            subprocess.run(["docker", "stack", "rm", name], capture_output=True)
