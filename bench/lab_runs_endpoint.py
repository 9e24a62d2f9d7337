"""Benchmark: the extension's runs-of-this-notebook endpoint with 10,000 runs in one experiment.

Prints numbers; not a test. Starts a throwaway PostgreSQL, a real MLflow server on it, and a
real `jupyter server` with the extension (enabled by the config the wheel installs), then
times `GET /mlops-hub/mlflow/runs?path=...` end to end over HTTP.

Runs are created two ways, both timed: a sample through MLflow's API (create_run +
log_batch, what a notebook does), the rest by SQL copies of one API-created template run
inside the MLflow database (the API is too slow for 10,000 runs in a benchmark's budget).

    .venv/bin/python bench/lab_runs_endpoint.py [--runs 10000] [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # one line per run
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.mlflow_server import MlflowServer
from tests.support.ports import free_port, wait_for_http
from tests.support.postgres import PostgresCluster

TARGET_P50_MS = 150.0
NOTEBOOKS = 20  # default: the 10,000 runs are spread over this many notebooks


def notebook_path(root: Path, i: int) -> str:
    return str(root / "project" / f"nb{i:02d}.ipynb")


def api_runs(client: MlflowClient, exp: str, root: Path, count: int, t0: int) -> float:
    """Create `count` runs like a notebook would; returns seconds taken."""
    start = time.perf_counter()
    for i in range(count):
        run = client.create_run(exp, start_time=t0 + i, tags={
            "mlflow.source.name": notebook_path(root, i % NOTEBOOKS),
            "mlflow.source.type": "NOTEBOOK",
            "mlflow.source.git.commit": "0" * 40,
            "mlflow.source.git.branch": "main",
            "mlops_hub.environment": "py311-cpu",
            "mlflow.user": "ada",
        })
        rid = run.info.run_id
        client.log_batch(rid, metrics=[Metric(k, float(i % 97) / 97, t0 + i, 0)
                                       for k in ("loss", "acc", "f1")],
                         params=[Param(k, str(i)) for k in ("lr", "depth", "seed")],
                         tags=[RunTag("mlops_hub.git.uncommitted_changes", "false")])
        client.set_terminated(rid, end_time=t0 + i + 1000)
    return time.perf_counter() - start


def sql_copies(db_url: str, template: str, count: int, root: Path, t0: int) -> float:
    """Copy the template run `count` times inside the MLflow database; seconds taken."""
    dsn = db_url.replace("postgresql+psycopg2://", "postgresql://")
    start = time.perf_counter()
    new_id = "md5('bench-' || g::text)"
    nb = (f"'{root}/project/nb' || lpad(mod(g + 1, {NOTEBOOKS})::text, 2, '0') || '.ipynb'")
    overrides = {
        "runs": {"run_uuid": new_id, "name": "'bench-' || g::text",
                 "start_time": f"{t0} + 1000 + g", "end_time": f"{t0} + 2000 + g"},
        "tags": {"run_uuid": new_id,
                 "value": f"CASE WHEN t.key = 'mlflow.source.name' THEN {nb} "
                          "WHEN t.key = 'mlflow.runName' THEN 'bench-' || g::text "
                          "ELSE t.value END"},
        "params": {"run_uuid": new_id, "value": "g::text"},
        "metrics": {"run_uuid": new_id, "value": "random()"},
        "latest_metrics": {"run_uuid": new_id, "value": "random()"},
    }
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for table, over in overrides.items():
            cur.execute("SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = %s ORDER BY ordinal_position", (table,))
            cols = [r[0] for r in cur.fetchall()]
            exprs = [over.get(c, f"t.{c}") for c in cols]
            cur.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(exprs)} "
                f"FROM {table} t CROSS JOIN generate_series(1, %s) g WHERE t.run_uuid = %s",
                (count, template))
        cur.execute("ANALYZE")
    return time.perf_counter() - start


def start_jupyter(root: Path, tracking_uri: str, token: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # the runs are ada's; the endpoint lists the server owner's by default
    env = dict(os.environ, MLFLOW_TRACKING_URI=tracking_uri, JUPYTER_TOKEN=token, JUPYTERHUB_USER="ada")
    log = open(root / "jupyter.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("jupyter")), "server", "--no-browser", "--allow-root",
         f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.root_dir={root}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/api/status?token={token}", timeout=60, proc=proc)
    return proc, url


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--api-sample", type=int, default=200, help="runs created via the API")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--page-size", type=int, default=50)
    ap.add_argument("--notebooks", type=int, default=NOTEBOOKS,
                    help="notebooks the runs are spread over (1: every run is the target's)")
    args = ap.parse_args()
    globals()["NOTEBOOKS"] = args.notebooks

    root = Path(tempfile.mkdtemp(prefix="mlops-hub-bench-"))
    pg = PostgresCluster().start()
    db = pg.create_database("mlflow")
    mlflow = MlflowServer(db).start()
    jupyter = None
    try:
        client = MlflowClient(mlflow.url)
        exp = client.create_experiment("bench")
        t0 = int(time.time() * 1000) - 10_000_000
        api_s = api_runs(client, exp, root, args.api_sample, t0)
        template = client.search_runs([exp], max_results=1)[0].info.run_id
        rest = args.runs - args.api_sample
        sql_s = sql_copies(db, template, rest, root, t0 + args.api_sample)
        total = len(client.search_runs([exp], max_results=50_000))
        print(f"runs in experiment:         {total}")
        print(f"create via MLflow API:      {args.api_sample} runs in {api_s:.1f} s "
              f"({args.api_sample / api_s:.1f} runs/s -> {args.runs / (args.api_sample / api_s) / 60:.1f}"
              f" min for {args.runs})")
        print(f"create via SQL copy:        {rest} runs in {sql_s:.2f} s "
              f"({rest / sql_s:,.0f} runs/s)")

        token = secrets.token_hex(16)
        jupyter, url = start_jupyter(root, mlflow.url, token)
        session = requests.Session()
        session.headers["Authorization"] = f"token {token}"
        target = f"project/nb{1 % NOTEBOOKS:02d}.ipynb"
        endpoint = f"{url}/mlops-hub/mlflow/runs"
        per_notebook = args.runs // NOTEBOOKS

        def timed(params: dict[str, str]) -> tuple[float, dict]:
            start = time.perf_counter()
            resp = session.get(endpoint, params=params, timeout=30)
            elapsed = (time.perf_counter() - start) * 1000
            resp.raise_for_status()
            return elapsed, resp.json()

        for _ in range(5):  # warm-up: connections, caches
            timed({"path": target})
        scenarios = {
            "first page, all experiments": {"path": target,
                                            "max_results": str(args.page_size)},
            "first page, experiment_id": {"path": target, "experiment_id": exp,
                                          "max_results": str(args.page_size)},
        }
        _, first = timed(scenarios["first page, experiment_id"])
        # the endpoint must really be answering this notebook's runs
        assert len(first["runs"]) == min(args.page_size, per_notebook), len(first["runs"])
        assert all(r["notebook"].endswith(target) for r in first["runs"])
        if first["next_page_token"]:
            scenarios["second page (token)"] = dict(scenarios["first page, experiment_id"],
                                                    page_token=first["next_page_token"])
        print(f"notebook under test:        {target} ({per_notebook} of the runs), "
              f"page size {args.page_size}, {args.requests} sequential requests each")
        for name, params in scenarios.items():
            times = [timed(params)[0] for _ in range(args.requests)]
            p50, p95 = statistics.median(times), percentile(times, 0.95)
            print(f"{name:28s}p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   "
                  f"p50/target {p50 / TARGET_P50_MS:.2f}  (target p50 <= {TARGET_P50_MS:.0f} ms)")
    finally:
        if jupyter is not None:
            jupyter.terminate()
            jupyter.wait(timeout=30)
        mlflow.stop()
        pg.stop()


if __name__ == "__main__":
    main()
