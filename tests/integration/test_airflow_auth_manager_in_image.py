"""The auth manager inside the Airflow image, with Airflow's own types and FastAPI (no stack needed):
airflow_image/check_auth_manager.py runs there against this checkout's mlops_hub/airflow."""

from __future__ import annotations

import docker
import pytest

from .conftest import REPO

pytestmark = pytest.mark.swarm
REVOKED_TABLE = ("from airflow import settings; from airflow.models.revoked_token import RevokedToken;"
                 " settings.configure_orm(); RevokedToken.__table__.create(settings.engine)")


def test_the_auth_manager_applies_the_rules_inside_airflow(images):
    out = docker.from_env().containers.run(
        images["airflow"], ["python", "/checks/check_auth_manager.py"], remove=True, network_mode="none",
        environment={"AIRFLOW__API_AUTH__JWT_SECRET": "x" * 64,
                     "AIRFLOW__API__BASE_URL": "http://airflow:8080/airflow",
                     "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////tmp/airflow.db"},
        # Airflow's token check looks up revoked tokens: that one table in a throwaway SQLite database
        # (a whole `airflow db migrate` takes minutes on a loaded machine)
        entrypoint=["sh", "-c", f'python -c "{REVOKED_TABLE}" && exec "$@"', "sh"],
        volumes={str(REPO / "mlops_hub" / "airflow"): {"bind": "/opt/mlops-hub-airflow/mlops_hub/airflow",
                                                       "mode": "ro"},
                 str(REPO / "tests" / "integration" / "airflow_image"): {"bind": "/checks", "mode": "ro"}},
    ).decode()
    assert "CHECKS PASSED" in out, out[-3000:]
