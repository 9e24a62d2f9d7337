"""Airflow on the real stack (docs/scheduling.md): four healthy services on the internal network, the
UI at https://<host>/airflow/ behind the hub's login, and the owner rules of its auth manager - a person
sees and acts on the DAGs whose spec names them, an admin on all, the hub as `mlops-hub` with its secret;
a forged identity header or a stale token of another person never helps."""

from __future__ import annotations

import io
import json
import re
import secrets
import tarfile
import time
from urllib.parse import urljoin

import docker
import pytest
import requests

from tests.support.ports import free_port

from .own_stack import run_in

pytestmark = pytest.mark.swarm

AIRFLOW_SERVICES = ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
INTERNAL = "http://airflow-api-server:8080/airflow"
# a test-only DAG (the real ones come from the hub's stub and the DAG factory): one task, no schedule
TEST_DAG = """from airflow.sdk import dag, task


@dag(dag_id={dag_id!r}, schedule=None, catchup=False)
def test_dag():
    @task
    def hello():
        print("hello from {dag_id}")

    hello()


test_dag()
"""


def _container(hub, stack: str, service: str, timeout: float = 180) -> str:
    """The container of the service's running task (a task being replaced has none for a while)."""
    def running():
        tasks = hub.docker.tasks(filters={"service": f"{stack}_{service}", "desired-state": "running"})
        return [t for t in tasks if t["Status"]["State"] == "running"]

    return _wait(f"a running task of {service}", running, timeout)[0]["Status"]["ContainerStatus"]["ContainerID"]


class Inside:
    """Calls from inside the stack: Python in the hub's container (on the internal network, where only
    the hub, the edge, MLflow, Airflow and the database are)."""

    def __init__(self, hub, stack: str):
        self.hub, self.stack = hub, stack

    @property
    def container(self) -> str:
        return _container(self.hub, self.stack, "hub")

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, object]:
        script = f"""
import json, sys, urllib.request, urllib.error
req = urllib.request.Request({INTERNAL + path!r}, method={method!r},
                             data={json.dumps(body).encode() if body is not None else None!r},
                             headers={{"Content-Type": "application/json"}})
if {token!r}:
    req.add_header("Authorization", "Bearer " + {token!r})
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); print(e.read().decode())
except OSError as e:
    print(0); print(json.dumps(str(e)))
"""
        code, out = run_in(self.hub.docker, self.container, ["python", "-c", script])
        assert code == 0, out
        status, _, text = out.partition("\n")
        try:
            return int(status), json.loads(text)
        except ValueError:
            return int(status), text

    def hub_token(self) -> str:
        code, out = run_in(self.hub.docker, self.container, ["cat", "/run/secrets/airflow_hub_password"])
        assert code == 0, out
        status, body = self.request("POST", "/auth/token", {"username": "mlops-hub", "password": out.strip()})
        assert status == 201, body
        return body["access_token"]

    def write_job(self, dag_id: str, owner: str) -> None:
        """A job's files as the hub writes them into the DAG folder: the spec (owner) and a DAG file."""
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for name, text in ((f"{dag_id}.json", json.dumps({"owner": owner, "dag_id": dag_id})),
                               (f"{dag_id}.py", TEST_DAG.format(dag_id=dag_id))):
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        assert self.hub.docker.put_archive(self.container, "/srv/airflow-dags/jobs", archive.getvalue())


def _wait(what: str, check, timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")


@pytest.fixture(scope="module")
def inside(hub, stack_settings) -> Inside:
    """The stack's Airflow, once its api-server answers and reports its scheduler, DAG processor and
    triggerer healthy (it starts after the hub: it migrates a fresh database first)."""
    inside = Inside(hub, stack_settings.stack)

    def healthy():
        status, body = inside.request("GET", "/api/v2/monitor/health")
        if status != 200:
            return None
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all(body.get(p, {}).get("status") == "healthy" for p in parts) and body

    _wait("Airflow healthy", healthy, timeout=420, every=2)
    return inside


@pytest.fixture(scope="module")
def hub_token(inside) -> str:
    return inside.hub_token()


@pytest.fixture(scope="module")
def jobs(hub, inside, hub_token):
    """Two people with a DAG each (files written into the DAG volume), visible in Airflow."""
    suffix = free_port() % 10000
    people = {}
    for base in ("ann", "bob"):
        user = f"afw-{base}-{suffix}"
        people[base] = (user, hub.account(user))
    dag_ids = {base: f"afwtest_{secrets.token_hex(3)}_{base}" for base in people}
    for base, dag_id in dag_ids.items():
        inside.write_job(dag_id, people[base][0])
    for dag_id in dag_ids.values():
        _wait(f"DAG {dag_id} parsed", lambda d=dag_id: inside.request("GET", f"/api/v2/dags/{d}", token=hub_token)[0]
              == 200, timeout=120)
    return {base: {"user": people[base][0], "password": people[base][1], "dag": dag_ids[base]} for base in people}


def airflow_session(hub, user: str, password: str) -> requests.Session:
    """A browser-like session: the hub's login, then Airflow's UI login as its SPA does it."""
    session = hub.login(user, password)
    r = session.get(f"{hub.url}/airflow/api/v2/auth/login", params={"next": "/airflow/"}, timeout=60,
                    headers={"Accept": "text/html"})
    assert r.status_code == 200 and r.url == f"{hub.url}/airflow/", (r.status_code, r.url, r.text[:300])
    assert any(c.name == "_token" and c.path == "/airflow/" and c.secure for c in session.cookies), session.cookies
    return session


def dag_ids(session, url: str) -> set[str]:
    r = session.get(f"{url}/airflow/api/v2/dags", params={"limit": 100}, timeout=30)
    assert r.status_code == 200, r.text
    return {d["dag_id"] for d in r.json()["dags"]}


# ---- the services --------------------------------------------------------------------------------
def test_the_four_airflow_services_run_healthy_on_the_internal_network_only(hub, stack_settings, inside):
    client = hub.docker

    def all_healthy():
        states = {}
        for service in AIRFLOW_SERVICES:
            container = client.inspect_container(_container(hub, stack_settings.stack, service))
            states[service] = container["State"].get("Health", {}).get("Status")
        return all(s == "healthy" for s in states.values()) or states and None

    _wait("four healthy Airflow services", all_healthy, timeout=240, every=2)
    for service in AIRFLOW_SERVICES:
        spec = client.inspect_service(f"{stack_settings.stack}_{service}")["Spec"]
        assert spec["EndpointSpec"]["Mode"] == "dnsrr"
        assert not spec["EndpointSpec"].get("Ports")
        networks = {client.inspect_network(n["Target"])["Name"] for n in spec["TaskTemplate"]["Networks"]}
        assert networks == {f"{stack_settings.network}-backend"}, (service, networks)
        env = spec["TaskTemplate"]["ContainerSpec"].get("Env", [])
        assert "AIRFLOW__CORE__PARALLELISM=4" in env and "AIRFLOW__CORE__EXECUTOR=LocalExecutor" in env
    mounts = client.inspect_service(f"{stack_settings.stack}_airflow-scheduler")["Spec"]["TaskTemplate"][
        "ContainerSpec"]["Mounts"]
    assert {m["Target"]: m.get("ReadOnly", False) for m in mounts}["/opt/airflow/dags"] is True
    assert "/var/run/docker.sock" in {m["Target"] for m in mounts}


def test_airflow_is_not_reachable_from_the_user_servers_network(hub, stack_settings, images, inside):
    out = docker.from_env().containers.run(
        images["edge"], ["sh", "-c", "curl -sS -m 5 -o /dev/null -w 'direct=%{http_code}\\n' "
                                     "http://airflow-api-server:8080/airflow/api/v2/monitor/health 2>&1;"
                                     " curl -sS -m 5 -o /dev/null -w 'edge=%{http_code}\\n'"
                                     " http://edge:8080/airflow/api/v2/dags"],
        network=stack_settings.network, remove=True).decode()
    assert "Could not resolve host: airflow-api-server" in out, out
    assert "edge=404" in out, out  # the edge's internal listener serves MLflow only


def test_no_airflow_secret_is_in_any_service_spec_or_environment(hub, stack_settings, inside):
    names = ("airflow_db_password", "airflow_hub_password", "airflow_jwt_secret", "airflow_secret_key",
             "airflow_fernet_key")
    values = {n: (stack_settings.secrets_dir / n).read_text().strip() for n in names}
    assert all(len(v) >= 32 for v in values.values())
    client = hub.docker
    services = client.services(filters={"label": f"com.docker.stack.namespace={stack_settings.stack}"})
    assert {f"{stack_settings.stack}_{s}" for s in AIRFLOW_SERVICES} <= {s["Spec"]["Name"] for s in services}
    for service in services:
        dumped = json.dumps(service)
        for name, value in values.items():
            assert value not in dumped, (name, service["Spec"]["Name"])
    for service in AIRFLOW_SERVICES:
        container = _container(hub, stack_settings.stack, service)
        dumped = json.dumps(client.inspect_container(container))
        # every process's environment (Airflow's workers included), and what `docker exec env` shows
        environ = "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; env"
        code, env = run_in(client, container, ["sh", "-c", environ])
        assert "AIRFLOW_HOME=/opt/airflow" in env, env[:500]
        for name, value in values.items():
            assert value not in dumped and value not in env, (name, service)
        spec_env = client.inspect_service(f"{stack_settings.stack}_{service}")["Spec"]["TaskTemplate"][
            "ContainerSpec"].get("Env", [])
        assert not [e for e in spec_env if e.startswith("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=")]


# ---- the front door ------------------------------------------------------------------------------
def test_airflow_without_a_hub_login_goes_to_the_hubs_login(hub, inside):
    r = requests.get(f"{hub.url}/airflow/", headers={"Accept": "text/html"}, allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text[:300]
    assert urljoin(hub.url, r.headers["Location"]).startswith(
        f"{hub.url}/hub/api/oauth2/authorize?client_id=service-airflow&redirect_uri=%2Fairflow%2F_edge%2Foauth_callback")
    r = requests.get(f"{hub.url}/airflow/api/v2/dags", timeout=30)
    assert r.status_code == 401, r.text
    # naming oneself in the headers Airflow trusts does not help: nginx asks the hub, then overwrites them
    forged = {"X-Mlops-User": "admin", "X-Mlops-Admin": "true"}
    for path in ("/airflow/api/v2/dags", "/airflow/auth/login"):
        assert requests.get(f"{hub.url}{path}", headers=forged, timeout=30, allow_redirects=False).status_code == 401
    # the hub's own identity is not offered through the edge
    r = requests.post(f"{hub.url}/airflow/auth/token", json={"username": "mlops-hub", "password": "x"}, timeout=30)
    assert r.status_code in (401, 404), r.status_code


def test_the_ui_loads_through_the_edge_with_its_assets(hub, jobs):
    ann = jobs["ann"]
    session = airflow_session(hub, ann["user"], ann["password"])
    page = session.get(f"{hub.url}/airflow/dags", headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and "<html" in page.text.lower()
    # the page's links are relative to its base, which must be the subpath the edge serves
    base = re.search(r'<base href="([^"]+)"', page.text).group(1)
    assert base == "/airflow/", base
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', page.text)
    assert assets, page.text[:1000]
    for asset in assets:
        url = urljoin(f"{hub.url}{base}", asset)
        assert url.startswith(f"{hub.url}/airflow/"), url  # links stay under the subpath
        r = session.get(url, timeout=30)
        assert r.status_code == 200, (url, r.status_code)
    # what the SPA asks first: who am I, what may I see
    r = session.get(f"{hub.url}/airflow/ui/auth/menus", timeout=30)
    assert r.status_code == 200, r.text
    assert set(r.json()["authorized_menu_items"]) <= {"Dags", "Docs"}, r.json()


# ---- the owner rules -----------------------------------------------------------------------------
def test_a_person_sees_and_acts_on_their_own_dags_only(hub, jobs):
    ann, bob = jobs["ann"], jobs["bob"]
    session = airflow_session(hub, ann["user"], ann["password"])
    mine = dag_ids(session, hub.url)
    assert ann["dag"] in mine and bob["dag"] not in mine, mine
    api = f"{hub.url}/airflow/api/v2"
    assert session.get(f"{api}/dags/{ann['dag']}", timeout=30).status_code == 200
    assert session.get(f"{api}/dags/{bob['dag']}", timeout=30).status_code == 403
    r = session.post(f"{api}/dags/{bob['dag']}/dagRuns", json={"logical_date": None}, timeout=30)
    assert r.status_code == 403, r.text
    assert session.get(f"{api}/dags/{bob['dag']}/dagRuns", timeout=30).status_code == 403
    # the UI's writes carry the edge's same-origin marks; the edge refuses another site's
    r = session.post(f"{api}/dags/{ann['dag']}/dagRuns", json={"logical_date": None}, timeout=30,
                     headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text
    run_id = r.json()["dag_run_id"]
    run_url = f"{api}/dags/{ann['dag']}/dagRuns/{run_id}"
    # the task runs (the scheduler's LocalExecutor, reporting to the api-server's execution API) ...
    _wait("ann's run done", lambda: session.get(run_url, timeout=30).json()["state"] in ("success", "failed")
          and session.get(run_url, timeout=30).json()["state"], timeout=180)
    assert session.get(run_url, timeout=30).json()["state"] == "success"
    # ... and its log is hers to read (the logs volume the scheduler writes), not bob's
    log_url = f"{run_url}/taskInstances/hello/logs/1?full_content=true"
    r = session.get(log_url, headers={"Accept": "application/json"}, timeout=30)
    assert r.status_code == 200 and f"hello from {ann['dag']}" in r.text, r.text[:500]
    other = airflow_session(hub, bob["user"], bob["password"])
    assert other.get(log_url, headers={"Accept": "application/json"}, timeout=30).status_code == 403
    assert other.get(run_url, timeout=30).status_code == 403
    r = session.post(f"{api}/dags/{ann['dag']}/dagRuns", json={"logical_date": None}, timeout=30,
                     headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403, r.text
    # nothing of the installation's
    for path in ("connections", "variables", "pools", "config", "providers", "plugins", "assets"):
        r = session.get(f"{api}/{path}", timeout=30)
        assert r.status_code == 403, (path, r.status_code, r.text[:200])
    # a forged identity header from the client is overwritten by the edge
    forged = session.get(f"{api}/dags", headers={"X-Mlops-User": bob["user"], "X-Mlops-Admin": "true"}, timeout=30)
    assert forged.status_code == 200 and {d["dag_id"] for d in forged.json()["dags"]} == mine


def test_an_admin_sees_every_dag(hub, jobs):
    session = airflow_session(hub, "admin", hub.admin_password)
    every = dag_ids(session, hub.url)
    assert {jobs["ann"]["dag"], jobs["bob"]["dag"]} <= every
    assert session.get(f"{hub.url}/airflow/api/v2/connections", timeout=30).status_code == 200


def test_a_stale_airflow_token_of_another_person_does_not_act_for_them(hub, jobs):
    ann, bob = jobs["ann"], jobs["bob"]
    ann_token = next(c.value for c in airflow_session(hub, ann["user"], ann["password"]).cookies if c.name == "_token")
    # the same browser: bob is logged into the hub now (and has passed the edge's login for /airflow/),
    # ann's Airflow cookie is still there
    browser = hub.login(bob["user"], bob["password"])
    assert browser.get(f"{hub.url}/airflow/", headers={"Accept": "text/html"}, timeout=60).status_code == 200
    host = hub.url.split("://", 1)[1].split(":")[0]
    browser.cookies.set("_token", ann_token, domain=host, path="/airflow/", secure=True)
    r = browser.get(f"{hub.url}/airflow/api/v2/dags", timeout=60)
    assert r.status_code in (401, 403), r.text  # Airflow's UI then logs in again, as bob
    assert ann["dag"] not in r.text
    r = browser.get(f"{hub.url}/airflow/api/v2/dags/{ann['dag']}", timeout=60)
    assert r.status_code in (401, 403), r.text
    # its login gives bob his own token and bob's view
    for cookie in [c for c in browser.cookies if c.name == "_token"]:  # Airflow may have dropped it already
        browser.cookies.clear(cookie.domain, cookie.path, cookie.name)
    r = browser.get(f"{hub.url}/airflow/api/v2/auth/login", params={"next": "/airflow/"}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    seen = dag_ids(browser, hub.url)
    assert bob["dag"] in seen and ann["dag"] not in seen


def test_the_hub_identity_gets_a_token_with_its_secret_and_sees_every_dag(inside, jobs, hub_token):
    status, body = inside.request("GET", "/api/v2/dags?limit=100", token=hub_token)
    assert status == 200, body
    assert {jobs["ann"]["dag"], jobs["bob"]["dag"]} <= {d["dag_id"] for d in body["dags"]}
    status, body = inside.request("POST", "/auth/token", {"username": "mlops-hub", "password": "wrong"})
    assert status == 401, body
    status, body = inside.request("POST", "/auth/token", {"username": jobs["ann"]["user"], "password": "x"})
    assert status == 401, body
    # without a token, nothing
    assert inside.request("GET", "/api/v2/dags")[0] == 401


def test_the_airflow_ui_shows_a_person_their_dags_in_a_browser(hub, jobs, chromium):
    """Chromium: the hub's login, then /airflow/ - the SPA logs into Airflow by itself (its auth
    manager's login) and lists the person's DAG, not the other person's."""
    from . import browser

    ann, bob = jobs["ann"], jobs["bob"]
    page = browser.login(chromium, hub.url, ann["user"], ann["password"])
    try:
        page.goto(f"{hub.url}/airflow/dags")
        page.get_by_text(ann["dag"]).first.wait_for(timeout=90_000)
        assert page.url.startswith(f"{hub.url}/airflow/"), page.url
        assert bob["dag"] not in page.content()
    finally:
        page.context.close()
