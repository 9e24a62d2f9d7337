"""The lab image serves the mlops-hub panel prebuilt from the wheel, and has no node."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.swarm


def _in_image(image: str, cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "run", "--rm", "--entrypoint", "bash", image, "-c", cmd],
                          capture_output=True, text=True, timeout=300)


def test_labextension_list_shows_the_panel_enabled_and_ok(images):
    proc = _in_image(images["lab-base"], "jupyter labextension list 2>&1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip().startswith("mlops-hub ")]
    assert len(lines) == 1, proc.stdout
    # e.g. "mlops-hub v0.1.0 enabled OK (python, mlops-hub)"
    assert "enabled" in lines[0] and "OK" in lines[0] and "(python, mlops-hub)" in lines[0], lines[0]
    # jupyter-resource-usage measures for the status bar; its own memory item is switched off
    assert "@jupyter-server/resource-usage" in proc.stdout, proc.stdout
    assert "@jupyter-server/resource-usage:status-item" in proc.stdout, proc.stdout


def test_the_lab_image_has_no_node(images):
    proc = _in_image(images["lab-base"], "command -v node nodejs npm || echo none")
    assert proc.stdout.strip() == "none", proc.stdout
