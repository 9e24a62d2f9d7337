"""What the front door (nginx, TLS) adds to a request: through the edge vs directly to the proxy, one run.

Deploys one platform stack (`ebedge`) with bench/swarm-stack.direct.yml on top, which also publishes
the hub's proxy (configurable-http-proxy) on a host port: the same hub, proxy and user server are
reached through the edge (https, nginx) and directly (plain http to the proxy). Starts one user's
server, uploads a ~100 KB notebook, then interleaves N requests of each kind through both paths:

  hub API    GET /hub/api/user                         (a token of the user)
  lab read   GET /user/NAME/api/contents/FILE?content=1 (the notebook, through the user's server)

Each path uses one keep-alive session (as a browser does) asking for gzip (as a browser does).
Prints p50/p95 per kind and path, the ratio edge/direct of the p50s and PASS/FAIL against the
target (the edge adds at most 10% to p50). Not a test: it prints numbers. Removes the stack at the end.

    PYTHONPATH=. .venv/bin/python bench/edge_overhead.py [--count 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.platform_files import one_size_platform  # noqa: E402
from mlops_hub.cli import default_ca_bundle  # noqa: E402
from mlops_hub.deploy.images import RELEASE, build_all  # noqa: E402
from mlops_hub.deploy.stack import StackSettings, deploy, remove, wait_for_hub  # noqa: E402
from tests.integration.hubclient import HubClient  # noqa: E402
from tests.support.edge_ca import CA_DIR, trust_in_this_process  # noqa: E402

DIRECT_OVERLAY = REPO / "bench" / "swarm-stack.direct.yml"
CPU, MEM = 1, "1G"
TARGET = 1.10
NOTEBOOK = "bench-100k.ipynb"


def platform_file(state: Path, lab_image: str) -> Path:
    return one_size_platform(state, lab_image, CPU, MEM, plain_too=False)


def notebook(target_bytes: int = 100_000) -> dict:
    """A notebook of about `target_bytes` as JSON: code cells with text outputs, like a real one."""
    cells = []
    size, i = 0, 0
    while size < target_bytes:
        source = f"# cell {i}\nimport math\nvalues = [math.sin(x / 10) for x in range({i * 7 + 20})]\nvalues[:5]\n"
        output = "\n".join(f"{i:4d} {j:4d} {((i * 31 + j * 17) % 997) / 997:.6f}" for j in range(12))
        cells.append({"cell_type": "code", "execution_count": i + 1, "id": f"cell-{i}", "metadata": {},
                      "source": source,
                      "outputs": [{"output_type": "stream", "name": "stdout", "text": output}]})
        size += len(source) + len(output) + 200
        i += 1
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed_get(session: requests.Session, url: str) -> tuple[float, int]:
    start = time.perf_counter()
    r = session.get(url, timeout=30)
    body = r.content  # the whole body, decompressed: what the caller waits for
    elapsed = time.perf_counter() - start
    if r.status_code != 200:
        raise SystemExit(f"GET {url}: {r.status_code} {body[:300]!r}")
    return elapsed, int(r.headers.get("content-length") or len(body))


def opened_connections(session: requests.Session) -> int:
    """TCP connections the session opened in all (1 per path when keep-alive held)."""
    pools = [pool for adapter in session.adapters.values() for pool in adapter.poolmanager.pools._container.values()]
    return sum(pool.num_connections for pool in pools)


def main() -> None:
    trust_in_this_process()  # the front door's certificate comes from the test CA
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="requests of each kind per path")
    parser.add_argument("--port", type=int, default=19465, help="edge https; http redirect port+1, direct port+2")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests of each kind per path first")
    parser.add_argument("--keep", action="store_true", help="leave the stack running (to tune and re-run)")
    args = parser.parse_args()

    images = build_all(REPO, default_ca_bundle())
    state = Path(tempfile.mkdtemp(prefix="eb-edge-"))
    direct_port = args.port + 2
    settings = StackSettings(repo=REPO, stack="ebedge", https_port=args.port, http_port=args.port + 1,
                             state_dir=state, ca_dir=CA_DIR, platform_config=platform_file(state, images["lab-base"]),
                             tag=images[RELEASE], lab_image=images["lab-base"], registry_port=args.port + 3,
                             extra_compose_files=(DIRECT_OVERLAY,),
                             extra_env={"MLOPS_BENCH_DIRECT_PORT": str(direct_port)})
    edge_url, direct_url = settings.url, f"http://127.0.0.1:{direct_port}"
    remove(settings, volumes=True)  # a killed run's leftovers: this stack's name only
    user = "bench"
    try:
        deploy(settings)
        # MLflow is on neither path; its start-up would only take CPU from what is measured
        subprocess.run(["docker", "service", "scale", "--detach", f"{settings.stack}_mlflow=0"],
                       check=True, capture_output=True)
        wait_for_hub(settings)
        token = (settings.secrets_dir / "api_token").read_text().strip()
        hub = HubClient(edge_url, token, settings.prefix, settings.stack)
        hub.create_user(user)
        r = hub.spawn(user, {})
        if r.status_code not in (201, 202):
            raise SystemExit(f"spawn failed: {r.status_code} {r.text}")
        hub.wait_ready(user, timeout=240)
        headers = hub.user_headers(user, "edge-overhead")

        sessions = {}
        for name, base in (("edge", edge_url), ("direct", direct_url)):
            session = requests.Session()
            session.headers.update(headers)
            session.headers["Accept-Encoding"] = "gzip, deflate"  # a browser's (requests has no br)
            sessions[name] = (session, base)
        body = {"type": "notebook", "format": "json", "content": notebook()}
        session, base = sessions["edge"]
        r = session.put(f"{base}/user/{user}/api/contents/{NOTEBOOK}", data=json.dumps(body), timeout=60)
        if r.status_code not in (200, 201):
            raise SystemExit(f"upload failed: {r.status_code} {r.text[:300]}")

        kinds = {"hub API": "/hub/api/user", "lab read": f"/user/{user}/api/contents/{NOTEBOOK}?content=1"}
        times: dict[tuple[str, str], list[float]] = {(k, p): [] for k in kinds for p in sessions}
        sizes: dict[tuple[str, str], int] = {}
        for i in range(args.warmup + args.count):
            paths = list(sessions) if i % 2 == 0 else list(sessions)[::-1]  # neither always goes first
            for kind, path in kinds.items():
                for name in paths:
                    session, base = sessions[name]
                    elapsed, size = timed_get(session, base + path)
                    if i >= args.warmup:
                        times[kind, name].append(elapsed)
                        sizes[kind, name] = size
        connections = {name: opened_connections(s) for name, (s, _) in sessions.items()}
    finally:
        if not args.keep:
            remove(settings, volumes=True)

    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\n{args.count} requests of each kind per path, interleaved; load average {' '.join(load)}"
          f" (connections opened: {connections})")
    verdicts = []
    for kind in kinds:
        p50 = {}
        for name in sessions:
            values = times[kind, name]
            p50[name] = statistics.median(values)
            print(f"  {kind:<9} {name:<7} p50 {p50[name] * 1e3:7.2f} ms  p95 {percentile(values, 0.95) * 1e3:7.2f} ms"
                  f"  (min {min(values) * 1e3:.2f} ms, {sizes[kind, name] / 1e3:.1f} kB on the wire)")
        ratio = p50["edge"] / p50["direct"]
        verdicts.append(ratio <= TARGET)
        print(f"  {kind:<9} edge/direct p50 {ratio:.2f}  (+{(p50['edge'] - p50['direct']) * 1e3:.2f} ms)"
              f"  {'PASS' if ratio <= TARGET else 'FAIL'} (target <= {TARGET:.2f})")
    print(f"{'PASS' if all(verdicts) else 'FAIL'}: the edge adds at most {TARGET - 1:.0%} to p50"
          f" of the hub API and a lab file read")


if __name__ == "__main__":
    main()
