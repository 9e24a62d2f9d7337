"""A real MLflow tracking server (`mlflow server --workers 1`) on a free loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .ports import free_port, wait_for_http


class MlflowServer:
    def __init__(self, backend_store_uri: str | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mlops-hub-mlflow-"))
        self.backend_store_uri = backend_store_uri or f"sqlite:///{self.dir / 'mlflow.db'}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> MlflowServer:
        mlflow_bin = Path(sys.executable).with_name("mlflow")
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", self.backend_store_uri,
             "--artifacts-destination", str(self.dir / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
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
