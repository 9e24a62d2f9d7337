"""What a model release asks for (mlops_hub/policy/model_release.py): the model reference, the service name it
gives, replicas and size within the releasing user's role, each mistake naming its field; the serving image and
the service's spec as data."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from mlops_hub.policy.model_release import (
    DRAIN_SECONDS,
    LABEL_MODEL,
    LABEL_MODEL_VERSION,
    ModelRef,
    ReleaseError,
    RoleRoom,
    model_service,
    not_the_same_model,
    parse_model_ref,
    parse_release,
    same_registered_model,
    serving_command,
    serving_dockerfile,
)

ROOM = RoleRoom("data-scientists", max_cpu=2, max_mem=4 * 1024**3)


def test_a_version_or_an_alias_names_the_model_and_its_mlflow_uri():
    assert parse_model_ref("churn/3") == ModelRef("churn", version="3")
    assert parse_model_ref(" churn@champion ") == ModelRef("churn", alias="champion")
    assert parse_model_ref("churn/03").uri == "models:/churn/3"
    assert parse_model_ref("churn@champion").uri == "models:/churn@champion"
    assert str(parse_model_ref("churn@champion")) == "churn@champion"


@pytest.mark.parametrize(("text", "expected"), [
    ("churn", "'churn' names no version or alias: write churn@ALIAS or churn/VERSION"),
    ("churn/0", "version '0': a registered version number"),
    ("churn/latest", "version 'latest': a registered version number"),
    ("churn@", "alias '': letters, digits"),
    ("churn@a b", "alias 'a b': letters, digits"),
    ("Churn Model/1", "'Churn Model' cannot name a service (model-<name>): lowercase letters, digits and '-'"),
    ("churn_v2/1", "'churn_v2' cannot name a service"),
    ("-churn/1", "'-churn' cannot name a service"),
    ("x" * 49 + "/1", "cannot name a service"),
    ("", "expected NAME@ALIAS or NAME/VERSION"),
    (3, "expected NAME@ALIAS or NAME/VERSION"),
])
def test_a_bad_model_reference_names_the_field_and_what_is_allowed(text, expected):
    with pytest.raises(ReleaseError) as info:
        parse_model_ref(text)
    assert info.value.field == "model" and expected in str(info.value)


def test_a_release_defaults_to_one_replica_of_half_a_cpu_and_512m():
    request = parse_release({"model": "churn@champion"}, ROOM)
    assert (request.replicas, request.cpu, request.mem, request.service) == (1, 0.5, 512 * 1024**2, "model-churn")


def test_a_release_within_the_role_takes_the_sizes_asked():
    request = parse_release({"model": "churn/2", "replicas": 3, "cpu": "1.5", "mem": "2G"}, ROOM)
    assert (request.replicas, request.cpu, request.mem) == (3, 1.5, 2 * 1024**3)


@pytest.mark.parametrize(("body", "field", "expected"), [
    ({"model": "churn/1", "cpu": 4}, "cpu", "from 0.05 to 2 (role 'data-scientists'), got 4"),
    ({"model": "churn/1", "mem": "8G"}, "mem", "from 256M to 4G (role 'data-scientists'), got '8G'"),
    ({"model": "churn/1", "mem": "128M"}, "mem", "from 256M to 4G"),
    ({"model": "churn/1", "mem": "lots"}, "mem", "lots"),
    ({"model": "churn/1", "replicas": 0}, "replicas", "a whole number from 1 to 8, got 0"),
    ({"model": "churn/1", "replicas": True}, "replicas", "a whole number from 1 to 8"),
    ({"model": "churn/1", "replicas": "2"}, "replicas", "a whole number from 1 to 8, got '2'"),
    ({"model": "churn/1", "image": "evil"}, "image", "not a release setting; allowed: model, replicas, cpu, mem"),
    ({}, "model", "expected NAME@ALIAS or NAME/VERSION"),
    ([], "body", "expected a JSON object"),
])
def test_a_bad_release_request_names_the_field(body, field, expected):
    with pytest.raises(ReleaseError) as info:
        parse_release(body, ROOM)
    assert info.value.field == field and expected in str(info.value), str(info.value)


def test_a_role_too_small_for_any_model_service_says_so():
    with pytest.raises(ReleaseError, match=r"mem: role 'tiny' allows at most 128M per server, less than a model"
                                           r" service needs \(256M\)"):
        parse_release({"model": "churn/1"}, RoleRoom("tiny", max_cpu=1, max_mem=128 * 1024**2))


def test_the_serving_image_is_the_training_environment_with_the_model_and_mlflows_scoring_server():
    dockerfile = serving_dockerfile("sha256:abc")
    assert dockerfile.splitlines()[0] == "FROM sha256:abc"
    assert "COPY --chown=1000:100 model /opt/mlops-model" in dockerfile
    entrypoint = json.loads(dockerfile.splitlines()[-1].removeprefix("ENTRYPOINT "))
    assert entrypoint[:2] == ["/bin/sh", "-c"]
    assert "mlflow models serve -m /opt/mlops-model --env-manager local -h 0.0.0.0 -p 8080 &" in entrypoint[2]


def wait_for(path):
    while not path.exists():
        time.sleep(0.05)


def test_a_stopping_replica_answers_through_the_drain_then_stops_with_the_servers_status(tmp_path):
    """The serving shell, run for real with a stand-in server and the drain's sleep replaced by a gate the test
    opens: SIGTERM reaches the server only after the drain, and the shell exits with the server's status."""
    command = serving_command()
    assert f"trap 'sleep {DRAIN_SECONDS}; kill -TERM" in command
    command = command.replace("mlflow models serve -m /opt/mlops-model --env-manager local -h 0.0.0.0 -p 8080",
                              f"sh {tmp_path / 'server.sh'}")
    command = command.replace(f"sleep {DRAIN_SECONDS};",
                              f"touch {tmp_path}/draining; while [ ! -e {tmp_path}/drained ]; do sleep 0.05; done;")
    (tmp_path / "server.sh").write_text(f"trap 'touch {tmp_path}/stopped; exit 0' TERM\n"
                                        f"touch {tmp_path}/started\nwhile true; do sleep 0.05; done\n")
    shell = subprocess.Popen(["sh", "-c", command])
    wait_for(tmp_path / "started")
    shell.send_signal(signal.SIGTERM)
    wait_for(tmp_path / "draining")
    # draining: the server still runs (it answers requests already routed to it)
    assert shell.poll() is None and not (tmp_path / "stopped").exists()
    (tmp_path / "drained").touch()
    assert shell.wait() == 0 and (tmp_path / "stopped").exists()
    (tmp_path / "server.sh").write_text("exit 3\n")  # a server that fails on its own: its status, at once
    assert subprocess.run(["sh", "-c", command]).returncode == 3


def test_the_service_carries_who_released_which_version_from_which_run():
    request = parse_release({"model": "churn@champion", "replicas": 2}, ROOM)
    spec = model_service(request, "7", "run-1", "img@sha256:1", "alice", "models-net")
    assert spec.name == "model-churn" and spec.replicas == 2 and spec.network == "models-net"
    assert spec.labels[LABEL_MODEL] == "churn" and spec.labels[LABEL_MODEL_VERSION] == "7"
    assert spec.labels["mlops-hub.model-run"] == "run-1" and spec.labels["mlops-hub.released-by"] == "alice"
    assert "mlops-hub.model-created" not in spec.labels  # only when MLflow said when the model was created
    assert model_service(request, "7", "run-1", "img", "alice", "n", model_created="1700")\
        .labels["mlops-hub.model-created"] == "1700"


RUNNING = {"mlops-hub.kind": "model", "mlops-hub.model": "churn", "mlops-hub.model-created": "1700",
           "mlops-hub.released-by": "alice"}


@pytest.mark.parametrize(("running", "expected"), [
    (RUNNING, True),  # the same registered model: an update
    ({**RUNNING, "mlops-hub.model-created": "1900"}, False),  # deleted and registered again under its name
    ({k: v for k, v in RUNNING.items() if k != "mlops-hub.model-created"}, None),  # older service: ask MLflow
    ({**RUNNING, "mlops-hub.model": "other"}, False),
    ({"com.docker.stack.namespace": "x"}, False),  # not a served model at all
])
def test_a_running_service_is_only_updated_to_the_registered_model_it_serves(running, expected):
    assert same_registered_model(running, "churn", "1700") is expected


def test_the_refusal_names_who_released_the_earlier_model_and_what_an_admin_runs():
    message = str(not_the_same_model("model-churn", RUNNING))
    assert message.startswith("model: model-churn serves a version of an earlier registered model")
    assert "released by alice" in message and "docker service rm model-churn" in message
    assert "is not a served model" in str(not_the_same_model("model-churn", {}))
