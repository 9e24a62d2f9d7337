"""The lab extension loads into a real Jupyter server without importing mlflow (1.5-2 s saved on
every server start); the first MLflow request imports it and still reports MLflow's state."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.ports import free_port

PROBE = """
import json, sys
from jupyter_server.serverapp import ServerApp
from mlops_hub.lab.errors import MlflowUnavailable

app = ServerApp.instance(jpserver_extensions={"mlops_hub.lab": True}, open_browser=False)
app.initialize(argv=["--ServerApp.port=0", "--ServerApp.ip=127.0.0.1"], new_httpserver=False)
extension = app.extension_manager.extensions["mlops_hub.lab"]
lab_app = next(iter(extension.extension_points.values())).app
backend = lab_app.runs_backend
report = {"loaded": extension.enabled and lab_app is not None,
          "backend": type(backend).__name__,
          "mlflow_after_start": "mlflow" in sys.modules}
try:
    backend.experiment(name="nothing-listens-here")
except MlflowUnavailable as e:
    report["first_call"] = str(e)
report["mlflow_after_first_call"] = "mlflow" in sys.modules
print(json.dumps(report))
"""


def test_server_start_leaves_mlflow_unimported_until_the_first_mlflow_request(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # a port nobody listens on
    env = {**os.environ, "MLFLOW_TRACKING_URI": dead, "HOME": str(tmp_path),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["loaded"] and report["backend"] == "MlflowRunsBackend"
    assert report["mlflow_after_start"] is False
    assert dead in report["first_call"]
    assert report["mlflow_after_first_call"] is True
