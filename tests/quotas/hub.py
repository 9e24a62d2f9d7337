"""A real JupyterHub process on loopback with the quota API, page and store (no proxy, no spawns)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]

CONFIG = r'''
import json
from mlops_hub.hub.setup import configure_quotas
from mlops_hub.names import QUOTAS_READ_SCOPE as READ_SCOPE, QUOTAS_WRITE_SCOPE as WRITE_SCOPE
settings = json.loads({settings!r})
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = settings["proxy_port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings["hub_port"]
c.JupyterHub.proxy_class = "tests.quotas.noop_proxy.NoopProxy"
c.JupyterHub.db_url = settings["db_url"]
c.JupyterHub.cookie_secret_file = settings["dir"] + "/cookie_secret"
c.JupyterHub.pid_file = settings["dir"] + "/hub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = settings["password"]
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {{"boss"}}
c.JupyterHub.spawner_class = "mlops_hub.spawner.MLOpsSwarmSpawner"
c.MLOpsSwarmSpawner.prefix = settings["prefix"]
c.MLOpsSwarmSpawner.environments = [
    {{"slug": "python", "display_name": "Python", "image": "lab:1", "default": True}},
    {{"slug": "torch", "display_name": "Torch", "image": "torch:1"}},
]
c.MLOpsSwarmSpawner.role_policies = settings["role_policies"]
c.JupyterHub.services = [
    {{"name": "admin-svc", "api_token": settings["tokens"]["admin"]}},
    {{"name": "manager-svc", "api_token": settings["tokens"]["manager"]}},
    {{"name": "reader-svc", "api_token": settings["tokens"]["reader"]}},
    {{"name": "plain-svc", "api_token": settings["tokens"]["plain"]}},
]
c.JupyterHub.load_roles = [
    {{"name": "admin", "services": ["admin-svc"]}},
    {{"name": "svc-quota-writer", "scopes": [WRITE_SCOPE], "services": ["manager-svc"]}},
    {{"name": "svc-quota-reader", "scopes": [READ_SCOPE], "services": ["reader-svc"]}},
]
configure_quotas(c)
'''

ROLE_POLICIES = {
    "default": {"max_cpu": 1, "max_mem": "2G", "environments": ["python"], "max_servers": 1},
    "risk-models": {"max_cpu": 4, "max_mem": "8G", "max_servers": 2, "pool_cpu": 16, "pool_mem": "64G",
                    "pool_servers": 8},
}


@dataclass
class HubProcess:
    db_url: str
    role_policies: dict = field(default_factory=lambda: dict(ROLE_POLICIES))
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    tokens: dict = field(default_factory=lambda: {k: secrets.token_hex(16) for k in
                                                  ("admin", "manager", "reader", "plain")})
    prefix: str = field(default_factory=lambda: f"mlopsqt-{secrets.token_hex(3)}")
    env: dict = field(default_factory=dict)  # extra environment for the hub process
    extra_config: str = ""                   # appended to the config file
    hub_port: int = field(default_factory=free_port)

    def __post_init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="mlops-quota-hub-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    def start(self) -> HubProcess:
        import json

        settings = {"proxy_port": free_port(), "hub_port": self.hub_port, "db_url": self.db_url,
                    "dir": str(self.dir), "password": self.password, "prefix": self.prefix,
                    "role_policies": self.role_policies, "tokens": self.tokens}
        config = CONFIG.format(settings=json.dumps(settings)) + self.extra_config
        (self.dir / "jupyterhub_config.py").write_text(config)
        env = {**os.environ, "PYTHONPATH": str(REPO), **self.env}
        self.log = open(self.dir / "hub.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", "jupyterhub_config.py"],
                                     cwd=self.dir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited: {self.logs()[-3000:]}")
            try:
                if requests.get(f"{self.url}/hub/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"hub did not answer: {self.logs()[-3000:]}")

    def logs(self) -> str:
        return (self.dir / "hub.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def remove(self) -> None:
        """Stop, and delete the config, logs and SQLite files."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def api(self, method: str, path: str, token: str = "admin", **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.tokens[token]}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=30, **kwargs)

    def login(self, user: str) -> requests.Session:
        import re

        s = requests.Session()
        page = s.get(f"{self.url}/hub/login", timeout=10)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        r = s.post(f"{self.url}/hub/login?next=/hub/home", data={"username": user, "password": self.password,
                                                                  "_xsrf": xsrf}, timeout=10)
        assert r.status_code == 200, r.text[:300]
        return s
