"""Who may do what in Airflow (mlops_hub/airflow/access.py, the rules the auth manager applies): the
owner comes from the job's spec file, admins and the hub's identity do everything, a token used
through the edge must be the edge's person's, and people get no connections, pools, variables,
configuration or other people's DAGs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from mlops_hub.airflow.access import (
    HUB_IDENTITY,
    PERSON_MENU,
    PERSON_VIEWS,
    EdgeHeaderError,
    Identity,
    SpecOwners,
    edge_identity,
    hub_password_ok,
    may_use_dag,
    safe_next,
    token_matches_edge,
)
from mlops_hub.deploy.images import RECIPES

REPO = Path(__file__).resolve().parents[2]
ANN, BOB = Identity("ann"), Identity("bob")
ADMIN = Identity("root-person", admin=True)
HUB = Identity(HUB_IDENTITY, service=True)


class Headers(dict):
    """Case-insensitive like Starlette's."""

    def get(self, key, default=None):
        return next((v for k, v in self.items() if k.lower() == key.lower()), default)


def write_spec(jobs: Path, dag_id: str, owner, **more) -> Path:
    jobs.mkdir(parents=True, exist_ok=True)
    path = jobs / f"{dag_id}.json"
    path.write_text(json.dumps({"owner": owner, **more}))
    return path


# ---- the owner of a DAG is its spec file's "owner" -------------------------------------------
def test_the_owner_is_read_from_the_spec_file_never_from_the_dag_id(tmp_path):
    owners = SpecOwners(tmp_path)
    # the DAG id names ann, the spec says bob: the spec wins
    write_spec(tmp_path, "ann__nightly", "bob")
    assert owners.owner("ann__nightly") == "bob"
    assert owners.owner("bob__missing") is None  # no spec, no owner: nobody but admins
    assert not may_use_dag(ANN, "GET", owners.owner("ann__nightly"), "ann__nightly")
    assert may_use_dag(BOB, "GET", owners.owner("ann__nightly"), "ann__nightly")


def test_a_rewritten_spec_changes_the_owner(tmp_path):
    owners = SpecOwners(tmp_path)
    path = write_spec(tmp_path, "job1", "ann")
    assert owners.owner("job1") == "ann"
    write_spec(tmp_path, "job1", "bob", schedule="@daily")  # a different size and inode or mtime
    os.utime(path, ns=(1, 1))
    assert owners.owner("job1") == "bob"


@pytest.mark.parametrize("content", ['{"owner": 3}', '{"owner": ""}', '["ann"]', "not json", '{"owner": null}'])
def test_a_spec_without_a_usable_owner_belongs_to_nobody(tmp_path, content):
    tmp_path.joinpath("job.json").write_text(content)
    assert SpecOwners(tmp_path).owner("job") is None


@pytest.mark.parametrize("dag_id", ["../secrets", "a/b", ".hidden", "", "x" * 300, "a b", "ann\n"])
def test_a_dag_id_that_is_not_a_plain_name_is_never_looked_up(tmp_path, dag_id):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "secrets.json").write_text('{"owner": "ann"}')
    assert SpecOwners(tmp_path / "jobs").owner(dag_id) is None


# ---- the DAG rules ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_a_person_reads_triggers_and_edits_their_own_dag_and_its_runs_and_logs(method):
    for entity in (None, "RUN", "TASK_INSTANCE", "TASK_LOGS", "XCOM"):
        assert may_use_dag(ANN, method, "ann", "job", entity)
        assert not may_use_dag(BOB, method, "ann", "job", entity)


def test_deleting_the_dag_itself_is_the_hubs_but_a_run_may_be_deleted_by_its_owner():
    assert not may_use_dag(ANN, "DELETE", "ann", "job")
    assert may_use_dag(ANN, "DELETE", "ann", "job", "RUN")
    assert may_use_dag(ADMIN, "DELETE", "ann", "job") and may_use_dag(HUB, "DELETE", None, "job")


def test_lists_without_a_dag_id_are_for_reading_and_are_filtered_per_dag():
    assert may_use_dag(ANN, "GET", None, None)
    assert not may_use_dag(ANN, "PUT", None, None)  # a bulk change over "every DAG" is not theirs


def test_admins_and_the_hub_use_every_dag_even_one_without_a_spec():
    for who in (ADMIN, HUB):
        assert who.is_admin
        for method in ("GET", "POST", "PUT", "DELETE"):
            assert may_use_dag(who, method, None, "anything")
            assert may_use_dag(who, method, "ann", "job", "TASK_LOGS")


def test_people_see_only_the_website_and_docs_never_config_providers_or_plugins():
    assert PERSON_VIEWS == {"WEBSITE", "DOCS"}
    assert PERSON_MENU == {"Dags", "Docs"}
    for forbidden in ("Connections", "Variables", "Pools", "Config", "Providers", "Plugins", "Assets"):
        assert forbidden not in PERSON_MENU
    for forbidden in ("PROVIDERS", "PLUGINS", "CLUSTER_ACTIVITY", "JOBS", "IMPORT_ERRORS", "TRIGGERS"):
        assert forbidden not in PERSON_VIEWS


# ---- who the request is: the edge's headers, and the token must match them ------------------
def test_the_edge_headers_name_the_person_percent_encoded():
    assert edge_identity(Headers({"X-Mlops-User": "ann", "X-Mlops-Admin": "false"})) == ("ann", False)
    assert edge_identity(Headers({"x-mlops-user": "%D0%B8%D0%B2%D0%B0%D0%BD", "x-mlops-admin": "true"})) \
        == ("иван", True)
    assert edge_identity(Headers({})) is None  # from inside the stack: no edge identity


@pytest.mark.parametrize("user,admin", [
    ("", "false"), ("ann", "yes"), ("ann", None), ("%ZZ", "false"), ("%FF", "false"), ("a%20", "false"),
    ("a b", "false"), ("%0A", "false"), ("a" * 256, "false"), ("a%2Fb", "maybe"),
])
def test_a_malformed_edge_header_is_refused(user, admin):
    headers = Headers({"X-Mlops-User": user})
    if admin is not None:
        headers["X-Mlops-Admin"] = admin
    with pytest.raises(EdgeHeaderError):
        edge_identity(headers)


def test_a_stale_token_of_another_hub_user_does_not_act_for_the_person_the_edge_names():
    # ann's token cookie is still in the browser, bob is logged into the hub now
    assert not token_matches_edge(ANN, ("bob", False))
    assert token_matches_edge(BOB, ("bob", False))
    # the admin flag follows the hub: a demoted admin's token stops, a promoted person logs in again
    assert not token_matches_edge(Identity("carol", admin=True), ("carol", False))
    assert not token_matches_edge(Identity("carol"), ("carol", True))
    # the hub's service token is not usable through the edge, even by a person called mlops-hub
    assert not token_matches_edge(HUB, (HUB_IDENTITY, False))
    assert not token_matches_edge(HUB, (HUB_IDENTITY, True))
    # inside the stack (the hub calling directly) a token stands for itself
    assert token_matches_edge(HUB, None) and token_matches_edge(ANN, None)


# ---- the hub's identity ------------------------------------------------------------------------
def test_the_hub_identity_needs_its_name_and_the_secret(tmp_path):
    secret = tmp_path / "airflow_hub_password"
    secret.write_text("s3cret-from-swarm\n")
    assert hub_password_ok(secret, HUB_IDENTITY, "s3cret-from-swarm")
    assert not hub_password_ok(secret, HUB_IDENTITY, "wrong")
    assert not hub_password_ok(secret, "ann", "s3cret-from-swarm")
    assert not hub_password_ok(tmp_path / "missing", HUB_IDENTITY, "")
    secret.write_text("")
    assert not hub_password_ok(secret, HUB_IDENTITY, "")  # an empty secret is no password


# ---- after the login, back into Airflow only ---------------------------------------------------
@pytest.mark.parametrize("next_url,expected", [
    (None, "/airflow/"), ("/airflow/dags/x?tab=runs", "/airflow/dags/x?tab=runs"),
    ("https://evil.example/airflow/", "/airflow/"), ("//evil.example/airflow/", "/airflow/"),
    ("/\\evil.example", "/airflow/"), ("/hub/admin", "/airflow/"), ("javascript:alert(1)", "/airflow/"),
])
def test_the_login_returns_only_to_airflows_own_pages(next_url, expected):
    assert safe_next(next_url, "/airflow/") == expected


# ---- the image carries exactly what its recipe hashes -------------------------------------------
def test_the_airflow_image_copies_what_its_recipe_hashes():
    dockerfile = (REPO / "images" / "airflow" / "Dockerfile").read_text()
    copied = set()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and " mlops_hub/" in line:
            copied.update(p.rstrip("/") for p in line.split()[1:-1])
    inputs = set(RECIPES["airflow"].inputs)
    assert copied == inputs - {"images/airflow"} == {"mlops_hub/__init__.py", "mlops_hub/names.py", "mlops_hub/airflow"}
    assert "AIRFLOW__CORE__AUTH_MANAGER=mlops_hub.airflow.auth_manager.HubAuthManager" in dockerfile
    pins = (REPO / "images" / "airflow" / "requirements.txt").read_text()
    assert re.search(r"^apache-airflow==3\.3\.2$", pins, re.M)
    assert re.search(r"^apache-airflow-providers-docker==4\.6\.1$", pins, re.M)


def test_the_auth_manager_imports_only_what_the_airflow_image_carries():
    allowed_first = {"__future__", "airflow", "fastapi", "jwt", "contextvars", "hmac", "json", "os", "re",
                     "dataclasses", "pathlib", "typing", "urllib"}
    for name in ("access.py", "auth_manager.py"):
        for line in (REPO / "mlops_hub" / "airflow" / name).read_text().splitlines():
            if re.match(r"^(from|import) ", line):
                module = line.split()[1]
                assert module.startswith(".") or module.split(".")[0] in allowed_first, (name, line)
