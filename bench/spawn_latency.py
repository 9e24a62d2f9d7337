"""Spawn latency: MLOpsSwarmSpawner vs dockerspawner's SwarmSpawner vs the floor, in one run.

Deploys the platform stack (hub as a Swarm service, images already local), then times N
sequential spawns `POST /hub/api/users/NAME/server` -> server ready, first with our spawner,
then with plain SwarmSpawner (same image, network, CPU/RAM), then the floor: `docker service
create` of the same image -> JupyterLab `/api/status` answering, measured from inside the hub.
Prints p50/p95 of each and the ratios. Not a test: it prints numbers.

    .venv/bin/python bench/spawn_latency.py [--count 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlops_hub.cli import default_ca_bundle  # noqa: E402
from mlops_hub.deploy.images import RELEASE, build_all  # noqa: E402
from mlops_hub.deploy.stack import StackSettings, deploy, remove, wait_for_hub  # noqa: E402
from tests.integration.hubclient import HubClient  # noqa: E402
from tests.support.edge_ca import CA_DIR, trust_in_this_process  # noqa: E402

CPU, MEM = 2, "2G"
MEM_BYTES = 2 * 1024**3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_spawns(hub: HubClient, count: int, options: dict | None) -> list[float]:
    times = []
    for i in range(count):
        user = f"bench-{i}"
        hub.create_user(user)
        start = time.perf_counter()
        r = hub.spawn(user, options)
        if r.status_code not in (201, 202):
            raise SystemExit(f"spawn failed: {r.status_code} {r.text}")
        if r.status_code == 202:
            hub.wait_ready(user, timeout=180)
        times.append(time.perf_counter() - start)
        print(f"  spawn {i + 1}/{count}: {times[-1]:.2f}s", flush=True)
        hub.stop(user)
        time.sleep(2)  # the old container stops before the next spawn
    return times


def run_stack(settings: StackSettings, spawner: str, count: int, options) -> list[float]:
    settings.spawner = spawner
    remove(settings)  # a fresh hub: an update in place would still answer from the old one
    deploy(settings)
    wait_for_hub(settings)
    time.sleep(3)  # the hub's start-up work settles
    token = (settings.secrets_dir / "api_token").read_text().strip()
    hub = HubClient(settings.url, token, settings.prefix, settings.stack)
    return time_spawns(hub, count, options)


def floor(settings: StackSettings, count: int) -> list[float]:
    hub_container = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={settings.stack}_hub"],
        check=True, capture_output=True, text=True).stdout.split()[0]
    probe = (REPO / "bench/floor_probe.py").read_bytes()
    out = subprocess.run(
        ["docker", "exec", "-i", hub_container, "python", "-", settings.lab_image, settings.network,
         str(count), str(CPU), str(MEM_BYTES)], input=probe, check=True, capture_output=True)
    return [float(x) for x in out.stdout.decode().split()]


def summary(name: str, values: list[float]) -> tuple[float, float]:
    p50, p95 = statistics.median(values), percentile(values, 0.95)
    print(f"{name:<28} p50 {p50:6.2f}s  p95 {p95:6.2f}s  (n={len(values)}, min {min(values):.2f}s)")
    return p50, p95


def main() -> None:
    trust_in_this_process()  # the stacks' front doors: certificates from the test CA
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=7)
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()

    images = build_all(REPO, default_ca_bundle())
    state = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    platform = state / "platform.yaml"
    platform.write_text(yaml.safe_dump({
        "spawner": {
            "environments": [{"slug": "python", "image": images["lab-base"]}],
            "role_policies": {"default": {"max_cpu": CPU, "max_mem": MEM, "default_cpu": CPU,
                                          "default_mem": MEM}},
        },
        "swarm_spawner": {"cpu_limit": CPU, "mem_limit": MEM},
    }))
    settings = StackSettings(repo=REPO, stack="mlopsbench", https_port=args.port, http_port=args.port + 1,
                             state_dir=state, ca_dir=CA_DIR, platform_config=platform, tag=images[RELEASE],
                             lab_image=images["lab-base"], registry_port=args.port + 2)
    remove(settings)
    try:
        print(f"MLOpsSwarmSpawner, {args.count} spawns ({CPU} CPUs, {MEM}):")
        ours = run_stack(settings, "mlops", args.count, {})
        print(f"plain dockerspawner SwarmSpawner, {args.count} spawns:")
        plain = run_stack(settings, "swarm", args.count, None)
        print(f"floor (service create -> /api/status), {args.count} runs:")
        base = floor(settings, args.count)
    finally:
        remove(settings)

    print()
    ours_p50, _ = summary("MLOpsSwarmSpawner", ours)
    plain_p50, _ = summary("SwarmSpawner (dockerspawner)", plain)
    floor_p50, _ = summary("floor", base)
    print(f"ratio ours/plain p50: {ours_p50 / plain_p50:.2f} (target <= 0.70)")
    print(f"ratio ours/floor p50: {ours_p50 / floor_p50:.2f} (target <= 1.25)")


if __name__ == "__main__":
    main()
