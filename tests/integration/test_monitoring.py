"""Monitoring end to end on the session's stack: Prometheus scrapes the hub (with the metrics token), the
node and server exporters and the Pushgateway; a spawned server, a refused spawn and a pushed model metric
show up in it; every query of every provisioned Grafana dashboard returns data from the real Prometheus.
(Grafana itself is not run: its image cannot be had here; tests/unit/test_grafana_config.py checks its
configuration.)"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from .dockerlogs import service_container_logs
from .own_stack import run_in

pytestmark = pytest.mark.swarm

REPO = Path(__file__).resolve().parents[2]
# the served models' board needs a served model with traffic: test_model_release_stack.py runs its queries
SERVED_MODELS_BOARD = REPO / "config" / "grafana" / "dashboards" / "model-services.json"
DASHBOARDS = sorted(set((REPO / "config" / "grafana" / "dashboards").glob("*.json")) - {SERVED_MODELS_BOARD})
GiB = 1024**3
PUSH_URL = "http://edge:8080/pushgateway/metrics/job"


def dashboard_queries(boards: list[Path] = DASHBOARDS) -> list[tuple[str, str, str]]:
    """(dashboard, panel, expr) of every target of every provisioned dashboard: a new panel is covered."""
    found = []
    for path in boards:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            found += [(path.stem, panel["title"], target["expr"]) for target in panel["targets"]]
    return found


def running_container(hub, service: str, deadline: float = 300) -> str:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        tasks = hub.docker.tasks(filters={"service": service, "desired-state": "running"})
        running = [t for t in tasks if t["Status"]["State"] == "running"]
        if running:
            return running[0]["Status"]["ContainerStatus"]["ContainerID"]
        time.sleep(1)
    raise AssertionError(f"service {service} has no running task")


class Prometheus:
    """The stack's real Prometheus, asked from inside its own container (it listens on the internal network)."""

    def __init__(self, hub, container: str) -> None:
        self.hub = hub
        self.container = container

    def get(self, path: str, query: str | None = None) -> dict:
        data = f" --data-urlencode {json.dumps('query=' + query)}" if query is not None else ""
        code, out = run_in(self.hub.docker, self.container,
                           f"curl -sS -G http://127.0.0.1:9090/prometheus/api/v1/{path}{data}")
        assert code == 0, out
        answer = json.loads(out)
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[dict]:
        return self.get("query", expr)["result"]

    def wait_for(self, expr: str, what: str, deadline: float = 240) -> list[dict]:
        """The query's result once it has any; fails naming what never showed up."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            result = self.query(expr)
            if result:
                return result
            time.sleep(2)
        targets = [(t["labels"].get("job"), t["health"], t.get("lastError"))
                   for t in self.get("targets")["activeTargets"]]
        raise AssertionError(f"{what}: `{expr}` returned nothing within {deadline:.0f}s; targets: {targets}")


@pytest.fixture(scope="module")
def prometheus(hub) -> Prometheus:
    return Prometheus(hub, running_container(hub, f"{hub.stack}_prometheus"))


def check_started(url: str, deadline: float = 300) -> None:
    """The hub starts its tools' login checks one after another, after it answers: wait for this one."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if requests.get(url, timeout=30).status_code not in (500, 502):
            return
        time.sleep(2)
    raise AssertionError(f"the login check behind {url} did not start")


SIZE = {"environment": "python", "cpu_limit": 0.5, "mem_limit": "512M"}  # reserves 0.25 CPU, 128 MiB


def spawn_placed(hub, user: str, options: dict, deadline: float = 300) -> None:
    """Spawn, again while Swarm cannot place it: other test stacks share this node's CPU reservations."""
    end = time.monotonic() + deadline
    while True:
        r = hub.spawn(user, options)
        if r.status_code in (201, 202) or "cannot place your server" not in r.text or time.monotonic() > end:
            break
        time.sleep(5)
    assert r.status_code in (201, 202), r.text


@pytest.fixture(scope="module")
def monitored(hub, prometheus):
    """One running server (role one-slot: its pool holds one), a second start of the role refused by the
    pool, and model metrics pushed by the server's own token."""
    check_started(f"{hub.url}/prometheus/api/v1/query")  # pushes pass the same login check
    stamp = int(time.time()) % 100000
    owner, other = f"mon-owner-{stamp}", f"mon-other-{stamp}"
    hub.create_user(owner, ["one-slot"])
    hub.create_user(other, ["one-slot"])
    spawn_placed(hub, owner, SIZE)
    hub.wait_ready(owner)
    refused = hub.spawn(other, SIZE)
    assert refused.status_code == 403, refused.text
    server = running_container(hub, hub.only_service(owner)["Spec"]["Name"])
    push = ("from mlops_hub.lab import push_metrics;"
            " push_metrics({'model_accuracy': 0.93, 'model_loss': 0.25}, job='train')")
    code, out = run_in(hub.docker, server, ["python", "-c", push])
    assert code == 0, out
    yield {"owner": owner, "other": other, "server": server}
    hub.stop(owner)


def test_prometheus_scrapes_the_hub_with_the_metrics_token(prometheus, monitored):
    (up,) = prometheus.wait_for('up{job="hub"} == 1', "the hub's target up")
    assert up["value"][1] == "1"
    prometheus.wait_for('jupyterhub_total_users{job="hub"} >= 2', "JupyterHub's own metrics")
    prometheus.wait_for('jupyterhub_running_servers{job="hub"}', "JupyterHub's running servers gauge")
    # spawn-duration buckets that tell 0.5 s from 10 s apart
    buckets = {float(s["metric"]["le"]) for s in prometheus.wait_for(
        'jupyterhub_server_spawn_duration_seconds_bucket{job="hub", status="success"}', "spawn duration buckets")}
    assert {0.5, 1.0, 2.0, 3.0, 5.0, 10.0} <= buckets, sorted(buckets)


def test_our_spawn_and_refusal_counters_carry_role_and_environment(prometheus, monitored):
    success = prometheus.wait_for(
        'mlops_spawns_total{job="hub", outcome="success", role="one-slot", environment="python"} >= 1',
        "the spawn counter")
    assert "reason" not in success[0]["metric"]  # an empty label: Prometheus keeps none
    refused = prometheus.wait_for(
        'mlops_spawns_total{job="hub", outcome="refused", role="one-slot", reason="quota"} >= 1', "the refusal")
    assert refused[0]["metric"]["environment"] == "python"
    prometheus.wait_for('mlops_quota_refusals_total{role="one-slot", resource="servers", kind="server"} >= 1',
                        "the pool refusal counter")
    prometheus.wait_for('mlops_pool_used{role="one-slot", resource="servers"} == 1', "the pool's use")
    prometheus.wait_for('mlops_pool_limit{role="one-slot", resource="servers"} == 1', "the pool's limit")


def test_per_server_use_and_limits_of_the_spawned_server(prometheus, monitored):
    who = f'user="{monitored["owner"]}", role="one-slot", environment="python", kind="server", job="servers"'
    (mem_limit,) = prometheus.wait_for(f"mlops_server_memory_limit_bytes{{{who}}}", "the server's memory limit")
    assert float(mem_limit["value"][1]) == GiB / 2
    (cpu_limit,) = prometheus.wait_for(f"mlops_server_cpu_limit_cores{{{who}}}", "the server's CPU limit")
    assert float(cpu_limit["value"][1]) == 0.5
    (mem,) = prometheus.wait_for(f"mlops_server_memory_bytes{{{who}}} > 0", "the server's memory use")
    assert 0 < float(mem["value"][1]) < GiB / 2
    prometheus.wait_for(f"mlops_server_cpu_seconds_total{{{who}}} > 0", "the server's CPU time")


def test_node_exporter_series(prometheus):
    (up,) = prometheus.wait_for('up{job="node"} == 1', "the node exporter (one per node; one node here)")
    prometheus.wait_for(f'node_memory_MemTotal_bytes{{instance="{up["metric"]["instance"]}"}} > 0', "node memory")
    prometheus.wait_for('node_filesystem_size_bytes{mountpoint="/"} > 0', "the node's root filesystem")


def test_pushed_model_metric_is_under_the_pushing_user(prometheus, monitored):
    (accuracy,) = prometheus.wait_for(f'model_accuracy{{user="{monitored["owner"]}", pushed_job="train"}}',
                                      "the pushed model metric")
    assert float(accuracy["value"][1]) == 0.93
    assert accuracy["metric"]["job"] == "pushgateway"  # never a platform target's job


def test_one_user_cannot_overwrite_another_users_pushed_metrics(hub, prometheus, monitored):
    owner, other, server = monitored["owner"], monitored["other"], monitored["server"]
    prometheus.wait_for(f'model_accuracy{{user="{owner}", pushed_job="train"}} == 0.93', "the owner's push")
    token = hub.user_headers(other, "push")["Authorization"].split()[1]
    body = f'model_accuracy{{user="{owner}"}} 0.01\n'

    def push(path: str, method: str = "PUT", auth: bool = True) -> str:
        header = f"-H 'Authorization: token {token}'" if auth else ""
        code, out = run_in(hub.docker, server, f"printf '{body}' | curl -sS -o /dev/null -w '%{{http_code}}'"
                                               f" -X {method} {header} --data-binary @- {PUSH_URL}/{path}")
        assert code == 0, out
        return out.strip()

    # the same group name: it lands under the pusher's own user label, even naming the owner inside
    assert push("train") in ("200", "202", "400")
    # naming the owner's group in the path, reading every group, or pushing without a token: refused
    assert push(f"train/user/{quote(owner)}") == "403"
    assert push("train", method="GET") == "403"
    assert push("train", auth=False) == "401"
    code, out = run_in(hub.docker, server, "curl -sS -o /dev/null -w '%{http_code}' http://edge:8080/pushgateway/api/v1/metrics")
    assert out.strip() == "403", out
    time.sleep(12)  # two scrapes of the Pushgateway after the other user's push
    values = {s["metric"]["user"]: float(s["value"][1])
              for s in prometheus.query('model_accuracy{pushed_job="train"}')}
    assert values[owner] == 0.93, values
    assert values.get(other, 0.01) == 0.01, values


def test_every_grafana_dashboard_query_returns_data_from_the_real_prometheus(prometheus, monitored):
    """Each target of each provisioned dashboard (config/grafana/dashboards/*.json), run as Grafana would
    run it. Grafana itself is configuration only here: its image cannot be had."""
    queries = dashboard_queries()
    assert len(DASHBOARDS) == 5 and len(queries) >= 20, queries
    # rates need two samples of the series they rate
    prometheus.wait_for('count_over_time(mlops_server_cpu_seconds_total[2m]) >= 2', "two server samples")
    empty = []
    for board, title, expr in queries:
        try:
            prometheus.wait_for(expr, f"{board}: {title}", deadline=60)
        except AssertionError as e:
            empty.append(str(e).split("; targets")[0])
    assert not empty, "\n".join(empty)


def test_prometheus_at_the_edge_for_admins_only(hub, prometheus):
    url = f"{hub.url}/prometheus/api/v1/query"
    check_started(url)
    admin = requests.get(url, params={"query": "up"}, headers=hub.user_headers("admin", "prometheus"), timeout=30)
    assert admin.status_code == 200 and admin.json()["status"] == "success", admin.text[:300]
    # Prometheus's own page (Debian ships its classic UI), served under /prometheus/ with its scripts
    page = requests.get(f"{hub.url}/prometheus/graph", headers=hub.user_headers("admin", "page"), timeout=30)
    assert page.status_code == 200 and "moment-timezone-with-data.min.js" in page.text, page.text[:300]
    script = requests.get(f"{hub.url}/prometheus/classic/static/moment-timezone/moment-timezone-with-data.min.js",
                          headers=hub.user_headers("admin", "script"), timeout=30)
    assert script.status_code == 200, script.status_code
    user = f"mon-user-{int(time.time()) % 100000}"
    hub.create_user(user)
    refused = requests.get(url, params={"query": "up"}, headers=hub.user_headers(user, "prometheus"), timeout=30)
    assert refused.status_code == 403, refused.text[:300]
    assert requests.get(url, params={"query": "up"}, timeout=30).status_code == 401
    # naming oneself an admin in the headers the edge sets does not help
    forged = {**hub.user_headers(user, "forged"), "X-Mlops-Admin": "true", "X-Mlops-Require-Admin": "false"}
    assert requests.get(url, params={"query": "up"}, headers=forged, timeout=30).status_code == 403


def test_the_metrics_token_reads_metrics_and_nothing_else(hub, stack_settings, prometheus):
    token = (stack_settings.secrets_dir / "metrics_token").read_text().strip()
    assert len(token) >= 32
    code, out = run_in(hub.docker, prometheus.container, f"curl -sS -o /dev/null -w '%{{http_code}}'"
                       f" -H 'Authorization: Bearer {token}' http://hub:8081/hub/api/users")
    assert out.strip() == "403", out
    code, out = run_in(hub.docker, prometheus.container,
                       "curl -sS -o /dev/null -w '%{http_code}' http://hub:8081/hub/metrics")
    assert out.strip() in ("401", "403"), out  # no token, no metrics


def test_the_metrics_token_is_in_no_spec_environment_label_or_log(hub, stack_settings, prometheus):
    token = (stack_settings.secrets_dir / "metrics_token").read_text().strip()
    client = hub.docker
    services = client.services(filters={"label": f"com.docker.stack.namespace={stack_settings.stack}"})
    assert {f"{stack_settings.stack}_{s}" for s in ("prometheus", "pushgateway", "node-exporter", "server-exporter")} \
        <= {s["Spec"]["Name"] for s in services}
    for service in services:
        assert token not in json.dumps(service), service["Spec"]["Name"]
    for name in ("hub", "prometheus"):
        container = running_container(hub, f"{stack_settings.stack}_{name}")
        assert token not in json.dumps(client.inspect_container(container)), name
        code, env = run_in(client, container, "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; env")
        assert "PATH=" in env and token not in env, name
        assert token not in service_container_logs(client, f"{stack_settings.stack}_{name}"), name


# a batch job that pushes a model metric with its own token: Airflow runs it, its scheduler pushes the outcome
PUSHING_JOB = [({}, "from mlops_hub.lab import push_metrics\n"
                    "push_metrics({'job_model_auc': 0.81}, job='nightly')\nprint('PUSHED')")]


def placed_lab(hub, name: str):
    """test_jobs_swarm's Lab (a user with a server and a notebook folder), spawned again while Swarm cannot
    place the server (other test stacks share this node's CPU reservations)."""
    from .test_jobs_swarm import Lab

    hub.create_user(name, ["analysts"])
    spawn_placed(hub, name, {"environment": "python", "cpu_limit": 0.5})
    lab = Lab.__new__(Lab)
    lab.hub, lab.name = hub, name
    lab.base = f"{hub.url}{hub.wait_ready(name)['url']}"
    lab.headers = hub.user_headers(name, "jobs test")
    lab.folder = f"jobs-{int(time.time())}"
    r = requests.put(f"{lab.base}api/contents/{lab.folder}", json={"type": "directory"}, headers=lab.headers,
                     timeout=30)
    assert r.status_code in (200, 201), r.text
    return lab


def test_a_batch_jobs_outcome_and_its_pushed_metric_reach_prometheus(hub, prometheus, airflow_ready):
    from .test_jobs_swarm import wait_for_run

    lab = placed_lab(hub, f"mon-jobs-{int(time.time()) % 100000}")
    try:
        path = lab.put("nightly.ipynb", PUSHING_JOB)
        r = lab.jobs_api("POST", json={"notebook": path})
        assert r.status_code == 201, r.text
        job = r.json()["job"]["id"]
        r = lab.jobs_api("POST", f"/{job}/runs")
        assert r.status_code == 201, r.text
        run, log, _ = wait_for_run(lab, job, r.json()["run"]["run_id"])
        assert run["state"] == "success", "\n".join(log)[-3000:]
        who = f'user="{lab.name}", dag_id="{job}", pushed_job="mlops_job_runs", role="analysts"'
        (outcome,) = prometheus.wait_for(f"mlops_job_last_run_success{{{who}}}", "the job's outcome")
        assert outcome["value"][1] == "1" and outcome["metric"]["environment"] == "python"
        prometheus.wait_for(f"mlops_job_last_success_timestamp_seconds{{{who}}} > 0", "the job's last success")
        (auc,) = prometheus.wait_for(f'job_model_auc{{user="{lab.name}", pushed_job="nightly"}}',
                                     "the metric the job pushed with its own token")
        assert float(auc["value"][1]) == 0.81
    finally:
        hub.stop(lab.name)
