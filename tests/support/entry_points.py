"""This checkout's entry points (pyproject.toml) for processes the tests start.

The test venv may have mlops-hub installed from another checkout, whose metadata lacks entry
points added here. A `mlops_hub-<version>.dist-info` written from this pyproject.toml and put
first on PYTHONPATH is the `mlops-hub` distribution Python finds first, so its entry points are
the ones MLflow loads (the modules themselves come from this checkout via PYTHONPATH too).
"""

from __future__ import annotations

import os
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[2]


def entry_points_txt(pyproject: Path = REPO / "pyproject.toml") -> str:
    project = tomllib.loads(pyproject.read_text())["project"]
    groups = dict(project.get("entry-points", {}))
    if project.get("scripts"):
        groups["console_scripts"] = project["scripts"]
    return "".join(f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in eps.items()) + "\n"
                   for group, eps in groups.items())


def write_dist_info(directory: Path) -> str:
    """Writes the dist-info into `directory`; returns a PYTHONPATH with it, then this checkout."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    info = directory / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text(entry_points_txt())
    return os.pathsep.join((str(directory), str(REPO)))
