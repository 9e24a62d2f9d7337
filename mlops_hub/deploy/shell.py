"""Running docker CLI commands with their output shown as progress."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence


class DeployError(RuntimeError):
    """A deployment step failed; the message says which and why."""


def say(message: str) -> None:
    print(f"[mlops-hub] {message}", file=sys.stderr, flush=True)


def run(cmd: Sequence[str], *, quiet: bool = False, input: bytes | None = None,
        env: dict | None = None, cwd: str | None = None) -> str:
    """Run a command; on failure raise DeployError with its output's tail."""
    proc = subprocess.run(
        list(cmd), input=input, env=env, cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    out = proc.stdout.decode("utf8", "replace")
    if proc.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-25:])
        raise DeployError(f"`{' '.join(cmd[:4])} ...` failed (exit {proc.returncode}):\n{tail}")
    if not quiet and out.strip():
        sys.stderr.write(out)
    return out


def run_showing_steps(cmd: Sequence[str], prefix: str) -> None:
    """Run a long command (an image build), echoing its `Step N/M` lines as progress."""
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tail: list[str] = []
    for raw in proc.stdout:
        line = raw.decode("utf8", "replace").rstrip()
        tail = (tail + [line])[-25:]
        if line.startswith("Step "):
            say(f"{prefix}: {line[:110]}")
    if proc.wait() != 0:
        raise DeployError(f"`{' '.join(cmd[:3])} ...` failed (exit {proc.returncode}):\n" + "\n".join(tail))


def succeeds(cmd: Sequence[str]) -> bool:
    return subprocess.run(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
