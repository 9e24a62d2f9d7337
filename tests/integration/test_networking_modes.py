"""dockerspawner's networking modes with MLOpsSwarmSpawner on the real swarm, the hub a real process here.

(b) `network_name` 'bridge' (so `use_internal_ip` is False, as dockerspawner defaults it): the
server's port is published in host mode and the hub reaches it on host_ip and that port;
(c) a combination Docker refuses (an ingress-mode port with endpoint mode dnsrr) fails at the
spawner's construction, naming the settings, and creates nothing. Mode (a), an overlay network
with `use_internal_ip`, is the stack's own mode: test_spawn_swarm.py spawns through it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import pytest
import requests

from tests.support.ports import free_port

pytestmark = pytest.mark.swarm

REPO = Path(__file__).resolve().parents[2]
STACK = os.environ.get("MLOPS_TEST_STACK", "mlopstest")

CONFIG = r'''
import json
s = json.loads({settings!r})
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = s["proxy_port"]
# the server, on Docker's bridge, reaches the hub at the bridge's gateway (this host)
c.JupyterHub.hub_ip = s["hub_ip"]
c.JupyterHub.hub_port = s["hub_port"]
c.JupyterHub.proxy_class = "tests.quotas.noop_proxy.NoopProxy"
c.JupyterHub.db_url = "sqlite:///" + s["dir"] + "/hub.sqlite"
c.JupyterHub.cookie_secret_file = s["dir"] + "/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.services = [{{"name": "admin-svc", "api_token": s["token"]}}]
c.JupyterHub.load_roles = [{{"name": "admin", "services": ["admin-svc"]}}]
c.JupyterHub.spawner_class = "mlops_hub.spawner.MLOpsSwarmSpawner"
c.MLOpsSwarmSpawner.image = s["image"]
c.MLOpsSwarmSpawner.prefix = s["prefix"]
c.MLOpsSwarmSpawner.http_timeout = 60
c.MLOpsSwarmSpawner.start_timeout = 120
for key, value in s["spawner"].items():
    setattr(c.MLOpsSwarmSpawner, key, value)
'''


def bridge_gateway() -> str:
    (config, *_) = docker.from_env().networks.get("bridge").attrs["IPAM"]["Config"]
    # the default bridge often states only its subnet; Docker gives the host its first address
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


class HostHub:
    """A JupyterHub process on this host spawning into the swarm with the given spawner settings."""

    def __init__(self, image: str, spawner: dict):
        self.dir = Path(tempfile.mkdtemp(prefix="mlops-net-hub-"))
        self.token = secrets.token_hex(16)
        self.prefix = f"{STACK}-net{secrets.token_hex(2)}"
        self.url = f"http://{bridge_gateway()}:{free_port()}"
        settings = {"proxy_port": free_port(), "hub_ip": self.url.split("//")[1].split(":")[0],
                    "hub_port": int(self.url.rsplit(":", 1)[1]), "dir": str(self.dir), "token": self.token,
                    "image": image, "prefix": self.prefix, "spawner": spawner}
        (self.dir / "jupyterhub_config.py").write_text(CONFIG.format(settings=json.dumps(settings)))
        self.log = open(self.dir / "hub.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", "jupyterhub_config.py"],
                                     cwd=self.dir, env={**os.environ, "PYTHONPATH": str(REPO)},
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60  # how long to wait for the hub to come up, not a speed check
        while True:
            if self.proc.poll() is not None or time.monotonic() >= deadline:
                raise AssertionError(f"the test hub did not come up: {self.logs()[-3000:]}")
            try:
                if requests.get(f"{self.url}/hub/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)

    def logs(self) -> str:
        return (self.dir / "hub.log").read_text(errors="replace")

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}", timeout=120,
                                headers={"Authorization": f"token {self.token}"}, **kwargs)

    def services(self) -> list:
        return docker.from_env().services.list(filters={"label": f"mlops-hub.prefix={self.prefix}"})

    def wait_ready(self, user: str, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.api("GET", f"/users/{user}").json()["servers"].get("", {})
            if server.get("ready"):
                return server
            assert server.get("pending") == "spawn", (server, self.logs()[-3000:])
            time.sleep(0.3)
        raise AssertionError(f"{user}'s server not ready: {self.logs()[-3000:]}")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        for service in self.services():  # a failed test must not leave servers behind
            service.remove()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def host_hub(images, request):
    hub = HostHub(images["lab-base"], request.param)
    yield hub
    hub.close()


@pytest.mark.parametrize("host_hub", [{"network_name": "bridge"}], indirect=True)
def test_bridge_network_publishes_a_host_mode_port_the_hub_reaches(host_hub):
    assert host_hub.api("POST", "/users/ana").status_code == 201
    r = host_hub.api("POST", "/users/ana/server")
    assert r.status_code in (201, 202), (r.text, host_hub.logs()[-3000:])
    host_hub.wait_ready("ana")

    (service,) = host_hub.services()
    endpoint = service.attrs["Spec"]["EndpointSpec"]
    assert endpoint["Mode"] == "dnsrr"
    assert [(p["TargetPort"], p["PublishMode"]) for p in endpoint["Ports"]] == [(8888, "host")]
    (task,) = [t for t in service.tasks() if t["Status"]["State"] == "running"]
    # Docker 20.10 lists a bridge task's host port twice: one port, whatever the count
    (port,) = {p["PublishedPort"] for p in task["Status"]["PortStatus"]["Ports"] if p["TargetPort"] == 8888}
    # the hub recorded the published port as the server's address, and the server answers there
    assert f"127.0.0.1:{port}" in host_hub.logs()
    answer = requests.get(f"http://127.0.0.1:{port}/user/ana/api", timeout=10)
    assert answer.status_code == 200 and "version" in answer.json()

    assert host_hub.api("DELETE", "/users/ana/server").status_code in (202, 204)
    deadline = time.monotonic() + 60
    while host_hub.services() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert host_hub.services() == []


@pytest.mark.parametrize("host_hub", [{"network_name": "bridge", "published_port_mode": "ingress",
                                       "extra_endpoint_spec": {"mode": "dnsrr"}}], indirect=True)
def test_refused_combination_is_named_and_creates_nothing(host_hub):
    assert host_hub.api("POST", "/users/bo").status_code == 201
    r = host_hub.api("POST", "/users/bo/server")
    assert r.status_code == 500
    assert "extra_endpoint_spec / published_port_mode: a port published in ingress mode cannot be used" \
        " with endpoint mode 'dnsrr'" in host_hub.logs()
    assert host_hub.services() == []
    assert docker.from_env().secrets.list(filters={"label": f"mlops-hub.prefix={host_hub.prefix}"}) == []
