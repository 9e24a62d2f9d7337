"""Run in a subprocess by test_edge_e2e: a notebook's MLflow use, printed as JSON.

argv[1]: another server's URL, to which the token must not go."""

import json
import os
import sys
import tempfile

import mlflow
from mlflow import MlflowClient

from mlops_hub.lab.mlflow_backend import MlflowRunsBackend

out = {}
with mlflow.start_run() as run:  # no set_experiment: MLFLOW_EXPERIMENT_NAME, created by the client
    mlflow.log_param("p", 1)
    mlflow.log_metric("m", 0.5)
    note = os.path.join(tempfile.mkdtemp(), "note.txt")
    with open(note, "w") as f:
        f.write("hello through the edge")
    mlflow.log_artifact(note)  # an upload to mlflow-artifacts:, through the edge
    try:
        mlflow.set_tag("mlflow.user", "someone-else")
        out["relabel"] = "allowed"
    except Exception as e:  # noqa: BLE001 - the message is the result
        out["relabel"] = str(e)[:500]
client = MlflowClient()
got = client.get_run(run.info.run_id)
out["experiment"] = client.get_experiment(got.info.experiment_id).name
out["user_id"] = got.info.user_id
out["user_tag"] = got.data.tags.get("mlflow.user")
out["metrics"] = got.data.metrics
out["artifacts"] = [a.path for a in client.list_artifacts(run.info.run_id)]
with open(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="note.txt")) as f:
    out["artifact_text"] = f.read()
# the lab extension's server side uses MLflow's transport the same way
backend = MlflowRunsBackend(os.environ["MLFLOW_TRACKING_URI"], max_retries=0)
out["backend_experiment"] = backend.experiment(name=out["experiment"])["name"]
# a client pointed elsewhere sends no token there
mlflow.set_tracking_uri(sys.argv[1])
try:
    MlflowClient().search_experiments()
except Exception:  # noqa: BLE001 - the recorder answers 404
    pass
print("RESULT " + json.dumps(out))
