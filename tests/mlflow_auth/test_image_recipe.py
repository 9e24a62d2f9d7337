"""The MLflow image carries exactly the mlops_hub files its server imports, and its rebuild
hash covers them (and nothing else of mlops_hub)."""

from __future__ import annotations

import re
from pathlib import Path

from mlops_hub.deploy.images import RECIPES

REPO = Path(__file__).resolve().parents[2]


def test_the_mlflow_image_copies_what_its_recipe_hashes() -> None:
    dockerfile = (REPO / "images" / "mlflow" / "Dockerfile").read_text()
    copied = set()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and " mlops_hub/" in line:
            copied.update(p.rstrip("/") for p in line.split()[1:-1])
    inputs = set(RECIPES["mlflow"].inputs)
    assert copied == inputs - {"images/mlflow"}, (copied, inputs)
    assert "mlops_hub" not in inputs  # a change elsewhere in the package does not rebuild it
    # the auth ini the image points MLflow at is among them
    ini = re.search(r"MLFLOW_AUTH_CONFIG_PATH=/opt/mlops-hub-mlflow/(\S+)", dockerfile).group(1)
    assert (REPO / ini).is_file() and any(ini.startswith(i) for i in inputs)


def test_the_auth_ini_holds_no_password() -> None:
    ini = (REPO / "mlops_hub" / "mlflow_server" / "auth.ini").read_text()
    settings = dict(re.findall(r"^(\w+)\s*=\s*(.*)$", ini, re.M))
    assert "admin_password" not in settings
    assert re.fullmatch(r"postgresql\+psycopg2://mlflow@db:5432/mlflow", settings["database_uri"])
    assert settings["authorization_function"] == "mlops_hub.mlflow_server.edge_auth:authenticate_from_edge"
    assert settings["default_permission"] == "READ"
