"""The package's layers, pinned: what each layer may import (docs/architecture.md in the README's layout).

Read from the source (every import statement, relative ones resolved), so a forbidden import fails
here even when it sits in a function that no test calls.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mlops_hub"


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module `path` imports."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def files(layer: str) -> list[Path]:
    target = PACKAGE / layer
    return [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))


def _matches(name: str, forbidden: str) -> bool:
    return name == forbidden or name.startswith(forbidden + ".")


# the spawner's class and the two mixins it is made of (failure messages; jobs and model releases)
SPAWNER = ["mlops_hub.spawner", "mlops_hub.spawner_failures", "mlops_hub.spawner_jobs"]

RULES = {
    # pure policy: no Docker, no web server, no hub, and none of the layers above it
    "policy": ["docker", "tornado", "jupyterhub", "sqlalchemy", "mlops_hub.swarm", *SPAWNER,
               "mlops_hub.quotas", "mlops_hub.hub", "mlops_hub.provision", "mlops_hub.deploy"],
    # the model, the store and admission: no Docker and no web; the hub's handlers live in hub/
    "quotas": ["docker", "tornado", "jupyterhub.app", "jupyterhub.handlers", "jupyterhub.apihandlers",
               "mlops_hub.swarm", *SPAWNER, "mlops_hub.hub"],
    # runs in user containers that do not have the hub's dependencies
    "lab": ["mlops_hub.hub", "mlops_hub.quotas", "mlops_hub.swarm", *SPAWNER, "mlops_hub.provision",
            "mlops_hub.deploy", "mlops_hub.policy", "docker", "dockerspawner", "jupyterhub.app"],
    # hub web goes through quotas; it never touches Docker or the spawner directly
    "hub": ["mlops_hub.swarm", *SPAWNER, "docker", "dockerspawner"],
    # Docker I/O knows no web handlers, spawner or quotas
    "swarm": ["mlops_hub.hub", *SPAWNER, "mlops_hub.quotas", "tornado", "jupyterhub"],
    "deploy": [*SPAWNER, "mlops_hub.hub", "mlops_hub.quotas"],
    # a model release: MLflow as the user, Docker through swarm/; no web handlers, spawner or quota store
    "release": ["mlops_hub.hub", *SPAWNER, "mlops_hub.quotas", "mlops_hub.deploy", "tornado",
                "jupyterhub"],
    # what a job's container runs, as data: no Docker, no web (the spawner does the I/O)
    "job_container.py": ["docker", "tornado", "jupyterhub", "mlops_hub.swarm", "mlops_hub.hub", "mlops_hub.spawner"],
    # the mixins are parts of MLOpsSwarmSpawner: neither imports the class nor hub web
    "spawner_failures.py": ["mlops_hub.spawner", "mlops_hub.spawner_jobs", "mlops_hub.hub", "tornado"],
    "spawner_jobs.py": ["mlops_hub.spawner", "mlops_hub.spawner_failures", "mlops_hub.hub", "dockerspawner"],
    # the hub's metrics: counted by the spawner, read at scrape; no Docker, no hub web
    "metrics.py": ["docker", "mlops_hub.swarm", *SPAWNER, "mlops_hub.hub"],
    # the server exporter runs on every node beside the hub: Docker and names only
    "monitoring": ["mlops_hub.hub", *SPAWNER, "mlops_hub.quotas", "mlops_hub.policy", "tornado",
                   "jupyterhub"],
}


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_only_what_it_may(layer):
    broken = []
    for path in files(layer):
        for name in sorted(imports_of(path)):
            if any(_matches(name, forbidden) for forbidden in RULES[layer]):
                broken.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert broken == []


def test_names_imports_nothing_of_ours_or_anyone_elses():
    assert {name for name in imports_of(PACKAGE / "names.py") if name != "__future__"
            and not name.startswith("__future__.")} == set()


def test_the_rule_checker_sees_relative_imports():
    # the checker itself must be able to fail: spawner.py imports swarm through a relative import
    assert "mlops_hub.swarm.tasks" in imports_of(PACKAGE / "spawner.py")
    assert "mlops_hub.policy.errors" in imports_of(PACKAGE / "policy" / "roles.py")


def test_importing_policy_and_quotas_loads_no_docker_tornado_or_hub_app():
    code = ("import sys, mlops_hub.policy, mlops_hub.policy.platform, mlops_hub.policy.form, "
            "mlops_hub.quotas.service, mlops_hub.quotas.store, mlops_hub.names;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('docker', 'tornado', 'dockerspawner')"
            " or m == 'jupyterhub.app'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# packages that run in an image of their own, which carries only them, mlops_hub/__init__.py and names.py;
# the hub imports airflow/job_spec (pure) to write the files the DAG factory reads
IMAGE_PACKAGES = {
    "mlflow_server": {"flask", "werkzeug", "mlflow"},
    # fastapi and PyJWT: what Airflow's api-server (where the auth manager runs) is built on
    # prometheus_client: the scheduler pushes jobs' outcomes (installed in the image on its own)
    "airflow": {"airflow", "docker", "fastapi", "jwt", "prometheus_client"},
}


@pytest.mark.parametrize("package", sorted(IMAGE_PACKAGES))
def test_image_packages_import_only_names_themselves_their_server_and_the_stdlib(package):
    allowed_ours = ("mlops_hub.names", f"mlops_hub.{package}")
    allowed_theirs = IMAGE_PACKAGES[package] | set(sys.stdlib_module_names) | {"__future__"}
    broken = []
    for path in files(package):
        for name in sorted(imports_of(path)):
            ours = name.startswith("mlops_hub")
            if (ours and not any(_matches(name, a) for a in allowed_ours)) or (
                    not ours and name.split(".")[0] not in allowed_theirs):
                broken.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert broken == []
    assert len(files(package)) >= 3, "the checker must see the package"


def test_job_spec_is_pure_so_the_hub_can_write_what_airflow_reads():
    assert {n.split(".")[0] for n in imports_of(PACKAGE / "airflow" / "job_spec.py")} <= \
        set(sys.stdlib_module_names) | {"__future__"}
