"""How long a scheduled notebook takes to start and to finish, next to a bare DockerSwarmOperator DAG.

Deploys the platform stack (`ebjobs`), schedules a one-cell notebook for a user through the hub's
jobs API, and beside it writes a bare DAG: one DockerSwarmOperator task in the same image that runs
`python -c` sleeping 1 s and printing (the notebook's one cell does the same, so both containers stay
running long enough for their `running` state to be seen). Then, interleaved N times: trigger, and time

  trigger -> container running: the run's Swarm task reported `running` (Docker's own timestamp)
  trigger -> success:           Airflow's run state is `success` (polled every 0.1 s)

Prints p50/p95 of each and the ratio ours/bare measured in the same run. Ours adds what a user's
job needs over the bare task: the hub's pool check, labels, volumes, the hub-token secret, and
papermill starting a kernel. Not a test: it prints numbers.

    PYTHONPATH=. .venv/bin/python bench/job_latency.py [--count 5] [--keep]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import docker
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlops_hub.cli import default_ca_bundle  # noqa: E402
from mlops_hub.deploy.images import RELEASE, build_all  # noqa: E402
from mlops_hub.deploy.stack import StackSettings, deploy, remove, wait_for_hub  # noqa: E402
from tests.integration.hubclient import HubClient  # noqa: E402
from tests.support.edge_ca import CA_DIR, trust_in_this_process  # noqa: E402

BARE_DAG = '''
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.docker.operators.docker_swarm import DockerSwarmOperator
with DAG("bench_bare", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    DockerSwarmOperator(task_id="run", image="{image}",
                        command=["python", "-c", "import time; time.sleep(1); print('bare run')"],
                        docker_url="unix://var/run/docker.sock", enable_logging=True, auto_remove="force",
                        mount_tmp_dir=False, service_prefix="ebjobs-bare", networks=["{network}"])
'''
NOTEBOOK = {"type": "notebook", "content": {"nbformat": 4, "nbformat_minor": 5, "metadata": {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "id": "c0",
               "source": "import time\ntime.sleep(1)\nprint('notebook run')"}]}}


def platform_file(state: Path, lab_image: str) -> Path:
    path = state / "platform.yaml"
    path.write_text(yaml.safe_dump({"spawner": {
        "environments": [{"slug": "python", "image": lab_image}],
        "role_policies": {"default": {"max_cpu": 1, "max_mem": "1G", "default_cpu": 0.5, "default_mem": "1G"}},
        "storage": {"backend": "local"},
    }}))
    return path


def hub_exec(client: docker.APIClient, stack: str, command: list[str], env: dict | None = None) -> str:
    task = client.tasks(filters={"service": f"{stack}_hub", "desired-state": "running"})[0]
    exec_id = client.exec_create(task["Status"]["ContainerStatus"]["ContainerID"], command, environment=env)
    return client.exec_start(exec_id).decode()


def task_running_at(client: docker.APIClient, prefix: str, since: float) -> float | None:
    """When Docker says a task of a job service became `running` (its own timestamp), or None yet."""
    for service in client.services(filters={"name": prefix}):
        for task in client.tasks(filters={"service": service["ID"]}):
            if task["Status"]["State"] == "running":
                stamp = task["Status"]["Timestamp"]
                at = datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()
                if at >= since - 1:
                    return at
    return None


def measure(trigger, state_of, client: docker.APIClient, service_prefix: str) -> tuple[float, float]:
    start = time.time()
    run_id = trigger()
    running = None
    while True:
        if running is None:
            at = task_running_at(client, service_prefix, start)
            running = at - start if at else None
        state = state_of(run_id)
        if state in ("success", "failed"):
            if state != "success":
                raise SystemExit(f"run {run_id} ended {state}")
            return (running if running is not None else float("nan")), time.time() - start
        time.sleep(0.1)


def main() -> None:
    trust_in_this_process()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--port", type=int, default=19475)
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args()

    images = build_all(REPO, default_ca_bundle())
    state = Path(tempfile.mkdtemp(prefix="eb-jobs-"))
    settings = StackSettings(repo=REPO, stack="ebjobs", https_port=args.port, http_port=args.port + 1,
                             state_dir=state, ca_dir=CA_DIR, platform_config=platform_file(state, images["lab-base"]),
                             tag=images[RELEASE], lab_image=images["lab-base"], registry_port=args.port + 2)
    client = docker.APIClient()
    remove(settings, volumes=True)
    results: dict[str, list[tuple[float, float]]] = {"ours": [], "bare": []}
    try:
        deploy(settings)
        wait_for_hub(settings)
        hub = HubClient(settings.url, (settings.secrets_dir / "api_token").read_text().strip(), settings.prefix,
                        settings.stack)
        user = "bench"
        hub.create_user(user)
        assert hub.spawn(user, {}).status_code in (201, 202)
        base = f"{hub.url}{hub.wait_ready(user, timeout=300)['url']}"
        headers = hub.user_headers(user, "bench")
        import requests

        r = requests.put(f"{base}api/contents/bench.ipynb", json=NOTEBOOK, headers=headers, timeout=60)
        assert r.status_code in (200, 201), r.text
        hub.stop(user)  # the server's pool charge and CPU are not part of what is measured
        for _ in range(120):  # Airflow starts after the hub: the first schedule waits for it
            r = hub.api("POST", "/mlops/jobs", headers=headers, json={"notebook": "bench.ipynb"})
            if r.status_code in (200, 201):
                break
            time.sleep(5)
        else:
            raise SystemExit(f"schedule failed: {r.status_code} {r.text}")
        job = r.json()["job"]["id"]
        dag = BARE_DAG.format(image=images["lab-base"], network=settings.network)
        hub_exec(client, settings.stack, ["sh", "-c", f"cat > /srv/airflow-dags/bench_bare.py <<'EOF'\n{dag}\nEOF"])
        password = (settings.secrets_dir / "airflow_hub_password").read_text().strip()
        # Airflow is on the internal network: the bare DAG is driven from inside the hub's container
        def airflow(path: str, method: str = "GET", body: str = "") -> str:
            # the password goes in the exec's environment, not on a command line
            code = ("import json,os,urllib.request as u;"
                    "t=json.loads(u.urlopen(u.Request('http://airflow-api-server:8080/airflow/auth/token',"
                    "json.dumps({'username':'mlops-hub','password':os.environ['PW']}).encode(),"
                    "{'Content-Type':'application/json'})).read())['access_token'];"
                    f"r=u.Request('http://airflow-api-server:8080/airflow/api/v2{path}',"
                    f"{body!r}.encode() or None,{{'Authorization':'Bearer '+t,'Content-Type':'application/json'}},"
                    f"method='{method}');print(u.urlopen(r).read().decode())")
            return hub_exec(client, settings.stack, ["python", "-c", code], {"PW": password})

        import json

        for _ in range(120):
            if '"dag_id"' in airflow("/dags/bench_bare"):
                break
            time.sleep(2)

        def trigger_ours() -> str:
            r = hub.api("POST", f"/mlops/jobs/{job}/runs", headers=headers, json={})
            assert r.status_code == 201, r.text
            return r.json()["run"]["run_id"]

        def state_ours(run_id: str) -> str:
            return hub.api("GET", f"/mlops/jobs/{job}/runs/{quote(run_id, safe='')}", headers=headers).json()[
                "run"]["state"]

        def trigger_bare() -> str:
            return json.loads(airflow("/dags/bench_bare/dagRuns", "POST", '{"logical_date": null}'))["dag_run_id"]

        def state_bare(run_id: str) -> str:
            return json.loads(airflow(f"/dags/bench_bare/dagRuns/{quote(run_id, safe='')}"))["state"]

        measure(trigger_ours, state_ours, client, f"{settings.prefix}-job")  # warm-up: first kernel start
        measure(trigger_bare, state_bare, client, "ebjobs-bare")
        for i in range(args.count):
            order = [("ours", trigger_ours, state_ours, f"{settings.prefix}-job"),
                     ("bare", trigger_bare, state_bare, "ebjobs-bare")]
            for name, trigger, state_of, prefix in (order if i % 2 == 0 else order[::-1]):
                results[name].append(measure(trigger, state_of, client, prefix))
    finally:
        if not args.keep:
            remove(settings, volumes=True)

    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\n{args.count} runs each, interleaved; load average {' '.join(load)}")
    for index, label in ((0, "trigger -> container running"), (1, "trigger -> success")):
        p50 = {name: statistics.median(r[index] for r in runs) for name, runs in results.items()}
        p95 = {name: max(r[index] for r in runs) for name, runs in results.items()}
        print(f"{label:30s} ours p50 {p50['ours']:.2f} s (max {p95['ours']:.2f})   bare p50 {p50['bare']:.2f} s"
              f" (max {p95['bare']:.2f})   ours/bare {p50['ours'] / p50['bare']:.2f}")


if __name__ == "__main__":
    main()
