"""A model release reads MLflow as the releasing user (mlops_hub/release/mlflow_source.py), against a real MLflow
run as the platform runs it: the version or alias and its run's environment image, the model's files, who may
release it, and the record of the release on the version."""

from __future__ import annotations

import datetime as dt

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_hub.names import TAG_ENVIRONMENT, TAG_IMAGE_DIGEST
from mlops_hub.policy.model_release import ReleaseError, parse_model_ref
from mlops_hub.release.mlflow_source import (
    ACTING_USER_PROVIDER,
    DEPLOYED_ALIAS,
    acting_as,
    claim,
    download,
    record_release,
    resolve,
    run_is_a_version_of,
)

DIGEST = "sha256:" + "ab" * 32


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input * 2


@pytest.fixture(scope="module")
def registered(edge_mlflow):
    """alice's model `rs-churn`: version 1 from a platform run (with its image), version 2 from a run without."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_AUTH", ACTING_USER_PROVIDER)
    mp.setenv("MLFLOW_TRACKING_URI", edge_mlflow.url)
    with acting_as("alice"):
        mlflow.set_experiment("release-source")
        with mlflow.start_run(tags={TAG_IMAGE_DIGEST: DIGEST, TAG_ENVIRONMENT: "data-science"}):
            mlflow.pyfunc.log_model(name="model", python_model=Doubler(), registered_model_name="rs-churn")
        with mlflow.start_run():
            mlflow.pyfunc.log_model(name="model", python_model=Doubler(), registered_model_name="rs-churn")
        MlflowClient().set_registered_model_alias("rs-churn", "champion", "1")
    yield MlflowClient(edge_mlflow.url)
    mp.undo()


def test_a_version_or_alias_resolves_to_its_run_and_environment_image(registered):
    with acting_as("alice"):
        by_version = resolve(registered, parse_model_ref("rs-churn/1"))
        by_alias = resolve(registered, parse_model_ref("rs-churn@champion"))
    assert by_version == by_alias
    assert (by_version.version, by_version.image_digest, by_version.environment) == ("1", DIGEST, "data-science")
    with acting_as("bob"):  # everyone reads every model (auth.ini's default permission)
        assert resolve(registered, parse_model_ref("rs-churn/1")).run_id == by_version.run_id


@pytest.mark.parametrize(("ref", "expected"), [
    ("rs-churn/9", "model: rs-churn/9: no such registered model version or alias in MLflow"),
    ("rs-churn@nowhere", "model: rs-churn@nowhere: no such registered model version or alias in MLflow"),
    ("rs-nothing/1", "model: rs-nothing/1: no registered model of that name that you may read in MLflow"),
    ("rs-churn/2", "its run"),
])
def test_an_unknown_version_alias_or_a_run_without_an_image_is_named(registered, ref, expected):
    with acting_as("alice"), pytest.raises(ReleaseError) as info:
        resolve(registered, parse_model_ref(ref))
    assert info.value.field == "model" and expected in str(info.value)
    if ref == "rs-churn/2":
        assert "has no environment image (mlops_hub.image_digest)" in str(info.value)


def test_the_models_files_are_downloaded_as_the_user(registered, edge_mlflow, tmp_path):
    with acting_as("alice"):
        source = resolve(registered, parse_model_ref("rs-churn/1"))
        found = download(source, tmp_path, edge_mlflow.url, "alice")
    assert (found / "MLmodel").is_file() and "python_function" in (found / "MLmodel").read_text()


def test_only_a_user_who_may_edit_the_model_can_release_it_and_the_release_is_recorded(registered):
    with acting_as("alice"):
        source = resolve(registered, parse_model_ref("rs-churn@champion"))
    with acting_as("bob"), pytest.raises(ReleaseError, match="rs-churn: you may not release it"):
        claim(registered, source, "bob")
    with acting_as("alice"):
        claim(registered, source, "alice")
        record_release(registered, source, "model-rs-churn", "10.0.0.1:5000/mlops-hub/model-rs-churn:1@sha256:1",
                       "alice", now=dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc))
        version = registered.get_model_version("rs-churn", "1")
        deployed = registered.get_model_version_by_alias("rs-churn", DEPLOYED_ALIAS)
    assert version.tags["mlops_hub.deployed_service"] == "model-rs-churn"
    assert version.tags["mlops_hub.deployed_by"] == version.tags["mlops_hub.release_requested_by"] == "alice"
    assert version.tags["mlops_hub.deployed_at"] == "2026-12-03T00:00:00+00:00"
    assert deployed.version == "1"


def test_outside_a_release_the_hub_names_no_one_and_mlflow_refuses(registered):
    with pytest.raises(MlflowException):
        registered.get_model_version("rs-churn", "1")


def test_a_version_knows_which_registered_model_it_belongs_to(registered):
    """The registered model's creation time tells it from a model deleted and registered again under its name;
    a run is only "a version of" the model one of whose versions it logged."""
    with acting_as("alice"):
        source = resolve(registered, parse_model_ref("rs-churn/1"))
        assert source.model_created == str(registered.get_registered_model("rs-churn").creation_timestamp)
        assert run_is_a_version_of(registered, "rs-churn", source.run_id)
        other = registered.create_run(registered.get_experiment_by_name("release-source").experiment_id)
        assert not run_is_a_version_of(registered, "rs-churn", other.info.run_id)
        assert not run_is_a_version_of(registered, "rs-churn", "' or name='x")  # not a run ID: never a filter
