"""A real MLflow tracking server (`mlflow server --workers 1`) on a free loopback port.

With `edge_auth=True` it runs as the platform runs it: through images/mlflow/mlops-hub-mlflow,
`--app-name basic-auth` and mlops_hub/mlflow_server/auth.ini (its database_uri replaced), with
this checkout's mlops_hub on PYTHONPATH; callers then name themselves with the edge's headers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from configparser import ConfigParser
from pathlib import Path

from .ports import free_port, wait_for_http

REPO = Path(__file__).resolve().parents[2]
AUTH_INI = REPO / "mlops_hub" / "mlflow_server" / "auth.ini"
WRAPPER = REPO / "images" / "mlflow" / "mlops-hub-mlflow"


class MlflowServer:
    def __init__(self, backend_store_uri: str | None = None, *, edge_auth: bool = False,
                 auth_database_uri: str | None = None, static_prefix: str = "",
                 extra_args: tuple[str, ...] = ()) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mlops-hub-mlflow-"))
        self.backend_store_uri = backend_store_uri or f"sqlite:///{self.dir / 'mlflow.db'}"
        self.edge_auth = edge_auth
        self.auth_database_uri = auth_database_uri or f"sqlite:///{self.dir / 'auth.db'}"
        self.static_prefix = static_prefix
        self.extra_args = list(extra_args)  # more `mlflow server` flags (--allowed-hosts, ...)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{static_prefix}"
        self.log_path = self.dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _auth_env(self) -> dict[str, str]:
        """The platform's auth ini with this server's auth database, and mlops_hub importable."""
        ini = ConfigParser()
        ini.read(AUTH_INI)
        ini["mlflow"]["database_uri"] = self.auth_database_uri
        path = self.dir / "auth.ini"
        with open(path, "w") as f:
            ini.write(f)
        pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        return {"MLFLOW_AUTH_CONFIG_PATH": str(path), "PYTHONPATH": pythonpath}

    def start(self, timeout: float = 120) -> MlflowServer:
        bin_dir = Path(sys.executable).parent
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        args = ["--host", "127.0.0.1", "--port", str(self.port),
                "--workers", "1", "--backend-store-uri", self.backend_store_uri,
                "--artifacts-destination", str(self.dir / "artifacts")]
        if self.static_prefix:
            args += ["--static-prefix", self.static_prefix]
        args += self.extra_args
        if self.edge_auth:
            env.update(self._auth_env(), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
            command = ["/bin/sh", str(WRAPPER), "--app-name", "basic-auth", *args]
        else:
            command = [str(bin_dir / "mlflow"), "server", *args]
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        try:
            wait_for_http(f"{self.url}/health", timeout=timeout, proc=self.proc)
        except RuntimeError:
            self.stop(keep_dir=True)
            raise RuntimeError(f"mlflow server did not start; log:\n{self.log_text()[-4000:]}"
                               ) from None
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, keep_dir: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # SIGTERM to the server's process group stops its workers too
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
