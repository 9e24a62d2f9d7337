"""Spawn time across nodes: on the manager, on a worker, and on a worker that just joined, with and without the
pre-puller. Not a test: it prints numbers.

A swarm of the host (manager) and worker nodes that are containers (tests/integration/worker_nodes.py), a
registry holding the lab image, which every node pulls by digest. A "spawn" is the server's service as the
spawner builds it (ServerSpec, build_service_kwargs: dnsrr, restart none, limits, the node constraint), running
plain `jupyter lab`; it is timed from create_service to JupyterLab's /api/status answering over the overlay
network (asked from a probe container on the manager, the hub's side). Cases, each p50 over --count samples:
- manager: the server constrained to the manager, the image already there;
- worker: constrained to a worker that has the image;
- joined, no pre-puller: a worker joins, then the server goes there at once (the pull is in the user's wait);
- joined, pre-puller: a worker joins while the pre-pull service runs; the spawn comes once the node has the image
  (the pull happened at join, not in any user's wait).

    PYTHONPATH=. .venv/bin/python bench/multinode_spawn.py [--count 3]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlops_hub.cli import default_ca_bundle  # noqa: E402
from mlops_hub.deploy.images import RELEASE, build_all, build_test_image  # noqa: E402
from mlops_hub.swarm.prepull import ensure_prepull_services  # noqa: E402
from mlops_hub.swarm.spec import ServerSpec, build_service_kwargs  # noqa: E402
from tests.integration.worker_nodes import (  # noqa: E402
    REGISTRY_STACK_PREFIX,
    push,
    remove_leftovers,
    remove_registry,
    remove_worker,
    start_registry,
    start_worker,
)
from tests.support.edge_ca import ca_cert  # noqa: E402

RUN = secrets.token_hex(3)
NETWORK = f"mlops-bench-nodes-{RUN}"
REGISTRY_STACK = f"{REGISTRY_STACK_PREFIX}bench-{RUN}"
WHICH = f"mlops-bench-node-{RUN}"
TOKEN = secrets.token_hex(8)


def spawn_seconds(client: docker.DockerClient, lab: str, constraint: str, probe) -> float:
    """create_service -> JupyterLab answering over the overlay network, for one server; removed afterwards."""
    name = f"mlops-bench-srv-{secrets.token_hex(3)}"
    spec = ServerSpec(name=name, image=lab, network=NETWORK, env={}, user="1000:100", cpu_limit=0.5,
                      mem_limit=768 * 1024**2, labels={"mlops-bench-run": RUN}, constraints=[constraint],
                      args=["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", f"--IdentityProvider.token={TOKEN}"])
    started = time.monotonic()
    service = client.api.create_service(**build_service_kwargs(spec))["ID"]
    try:
        code, out = probe.exec_run(["python", "-c", (
            "import time, urllib.request\n"
            "for _ in range(3000):\n"
            "    try:\n"
            f"        urllib.request.urlopen('http://{name}:8888/api/status?token={TOKEN}', timeout=2); break\n"
            "    except OSError:\n"
            "        time.sleep(0.05)\n"
            "else:\n"
            "    raise SystemExit('never answered')\n")])
        if code != 0:
            raise SystemExit(f"{name} did not answer: {out.decode()[-300:]}")
        return time.monotonic() - started
    finally:
        client.api.remove_service(service)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3, help="samples per case")
    args = parser.parse_args()
    client = docker.from_env()
    remove_leftovers(client)
    images = build_all(REPO, default_ca_bundle())
    node_image = build_test_image(REPO, "node")
    workers = []
    results: dict[str, list[float]] = {}
    prefix = f"mlops-bench-{RUN}"
    try:
        registry = start_registry(REGISTRY_STACK, Path(tempfile.mkdtemp()), images[RELEASE])
        lab = push(images["lab-base"], registry)
        client.api.create_network(NETWORK, driver="overlay", attachable=True, labels={"mlops-hub.test-node": "1"})
        probe = client.containers.run(images["lab-base"], ["sleep", "infinity"], network=NETWORK, detach=True,
                                      labels={"mlops-hub.test-node": "1"}, name=f"mlops-bench-probe-{RUN}")
        subprocess.run(["docker", "pull", lab], check=True, capture_output=True)  # the manager has it, as the hub
        workers.append(start_worker(client, node_image, f"mlops-bench-w0-{RUN}", {WHICH: "w0"}, ca_cert()))
        workers[0].docker("pull", lab)
        for _ in range(args.count):
            results.setdefault("manager", []).append(spawn_seconds(client, lab, "node.role == manager", probe))
            results.setdefault("worker", []).append(spawn_seconds(client, lab, f"node.labels.{WHICH} == w0", probe))
        for n in range(args.count):
            fresh = start_worker(client, node_image, f"mlops-bench-j{n}-{RUN}", {WHICH: f"j{n}"}, ca_cert())
            workers.append(fresh)
            results.setdefault("joined, no pre-puller", []).append(
                spawn_seconds(client, lab, f"node.labels.{WHICH} == j{n}", probe))
        ensure_prepull_services(client.api, prefix, {"python": lab})
        for n in range(args.count):
            fresh = start_worker(client, node_image, f"mlops-bench-p{n}-{RUN}", {WHICH: f"p{n}"}, ca_cert())
            workers.append(fresh)
            joined = time.monotonic()
            while not fresh.has(lab):
                time.sleep(0.2)
            print(f"  p{n}: the pre-puller had the image there {time.monotonic() - joined:.1f} s after the join")
            results.setdefault("joined, pre-puller", []).append(
                spawn_seconds(client, lab, f"node.labels.{WHICH} == p{n}", probe))
    finally:
        ensure_prepull_services(client.api, prefix, {})
        for worker in workers:
            remove_worker(client, worker)
        remove_registry(REGISTRY_STACK)
        remove_leftovers(client)
        subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True)
    base = statistics.median(results["manager"])
    print(f"\nspawn -> JupyterLab answering, p50 of {args.count} (lab image {lab}):")
    for case, samples in results.items():
        p50 = statistics.median(samples)
        print(f"  {case:24s} p50 {p50:6.2f} s  ({', '.join(f'{s:.2f}' for s in samples)})"
              f"  ratio to the manager {p50 / base:.2f}")


if __name__ == "__main__":
    main()
