"""The panel's component tests (jest, labextension/src/__tests__), run as part of the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlops_hub.deploy.frontend import install_node_modules, tool_path

REPO = Path(__file__).resolve().parents[2]


def test_jest_component_tests_pass_with_their_coverage_thresholds():
    install_node_modules(REPO)
    env = {**os.environ, "PATH": tool_path()}
    proc = subprocess.run([str(Path(sys.executable).parent / "jlpm"), "test", "--ci", "--coverage"],
                          cwd=REPO / "labextension", env=env, capture_output=True, text=True)
    print(proc.stdout, proc.stderr)  # jest reports on stderr
    assert proc.returncode == 0, proc.stderr[-4000:]
