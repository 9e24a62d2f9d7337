"""Models to production, timed: how long a registered version takes to answer through the platform, and what the
platform adds to a prediction, against `mlflow models serve` of the same model called directly. One run.

Deploys one platform stack (`ebmodel`, the test suite's platform settings), logs a scikit-learn model from the
data-science environment to the stack's MLflow as a user, then:

  release      POST /hub/api/mlops/models/releases (version 1, a new service) until the first prediction through
               the front door answers 200; then an update to version 2 (Swarm's 30 s watch included)
  predictions  --count POSTs of each kind, interleaved, each on one keep-alive session:
               platform  https://<edge>/models/<name>/invocations with a token scoped to the model (nginx, TLS,
                         the hub's token check, Swarm's DNS, the overlay network)
               direct    the same serving image (the same `mlflow models serve` of the same model) as a plain
                         container on a host port, plain http

Prints the release times, p50/p99 of each path and the platform/direct ratio of the p50s. Not a test: it prints
numbers. Removes the stack at the end (--keep leaves it).

    PYTHONPATH=. .venv/bin/python bench/model_release.py [--count 300]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import docker
import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.edge_overhead import percentile  # noqa: E402
from mlops_hub.cli import default_ca_bundle  # noqa: E402
from mlops_hub.deploy.environments import build_environments, environment_builds  # noqa: E402
from mlops_hub.deploy.images import RELEASE, build_all  # noqa: E402
from mlops_hub.deploy.stack import StackSettings, deploy, remove, wait_for_hub  # noqa: E402
from tests.integration.conftest import SHIPPED_PLATFORM, named_user_image, platform_settings  # noqa: E402
from tests.integration.hubclient import HubClient  # noqa: E402
from tests.integration.test_model_release_stack import INPUTS, log_model  # noqa: E402
from tests.support.edge_ca import CA_DIR, trust_in_this_process  # noqa: E402

MODEL = f"bench{secrets.token_hex(2)}"
USER = "bench-releaser"


def timed_post(session: requests.Session, url: str) -> float:
    start = time.perf_counter()
    r = session.post(url, json=INPUTS, timeout=60)
    elapsed = time.perf_counter() - start
    if r.status_code != 200:
        raise SystemExit(f"POST {url}: {r.status_code} {r.text[:300]}")
    return elapsed


def release_until_answering(hub: HubClient, model_url: str, session: requests.Session, version: str) -> tuple:
    """(seconds the hub's API took, seconds until the front door answered with this version serving)."""
    start = time.perf_counter()
    r = requests.post(f"{hub.url}/hub/api/mlops/models/releases", json={"model": f"{MODEL}/{version}"},
                      headers=hub.user_headers(USER, "bench release"), timeout=900)
    api = time.perf_counter() - start
    if r.status_code != 201:
        raise SystemExit(f"release of version {version}: {r.status_code} {r.text[:500]}")
    while session.post(model_url, json=INPUTS, timeout=60).status_code != 200:
        time.sleep(0.1)
    return api, time.perf_counter() - start


def direct_server(client: docker.DockerClient, image: str, port: int):
    """The serving image as a plain container on 127.0.0.1:port: `mlflow models serve` of the same model."""
    container = client.containers.run(image, detach=True, ports={"8080/tcp": ("127.0.0.1", port)},
                                      name=f"ebmodel-direct-{secrets.token_hex(3)}", nano_cpus=500_000_000,
                                      mem_limit="512m")
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if requests.get(f"{url}/ping", timeout=5).status_code == 200:
                return container, url
        except requests.RequestException:
            pass
        time.sleep(0.5)


def main() -> None:
    trust_in_this_process()  # the front door's certificate comes from the test CA
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300, help="predictions per path")
    parser.add_argument("--warmup", type=int, default=30, help="untimed predictions per path first")
    parser.add_argument("--port", type=int, default=19565, help="edge https; http port+1, registry port+2,"
                                                                " the direct server port+3")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args()

    built = build_all(REPO, default_ca_bundle())
    catalogue = build_environments(environment_builds(SHIPPED_PLATFORM), built["lab-base"])
    images = {**built, "lab-named-user": named_user_image(built["lab-base"]), "environments": catalogue}
    state = Path(tempfile.mkdtemp(prefix="eb-model-"))
    platform = state / "platform.yaml"
    platform.write_text(yaml.safe_dump(platform_settings(images)))
    settings = StackSettings(repo=REPO, stack="ebmodel", https_port=args.port, http_port=args.port + 1,
                             state_dir=state, ca_dir=CA_DIR, platform_config=platform, tag=images[RELEASE],
                             lab_image=images["lab-base"], registry_port=args.port + 2, prepull=False)
    remove(settings, volumes=True)  # a killed run's leftovers: this stack's name only
    client = docker.from_env()
    direct = None
    try:
        deploy(settings)
        wait_for_hub(settings)
        hub = HubClient(settings.url, (settings.secrets_dir / "api_token").read_text().strip(), settings.prefix,
                        settings.stack)
        hub.create_user(USER, ["data-scientists"])
        hub.mlflow_session(USER)
        base = catalogue["data-science"]
        first, second = log_model(hub, USER, base, model=MODEL), log_model(hub, USER, base, model=MODEL)
        token = hub.api("POST", f"/users/{USER}/tokens", json={
            "scopes": [f"access:services!service=model-{MODEL}"]}).json()["token"]
        platform_session = requests.Session()
        platform_session.headers["Authorization"] = f"token {token}"
        model_url = f"{settings.url}/models/{MODEL}/invocations"
        created = release_until_answering(hub, model_url, platform_session, first)
        updated = release_until_answering(hub, model_url, platform_session, second)

        image = hub.docker.inspect_service(f"model-{MODEL}")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        direct, direct_url = direct_server(client, image, args.port + 3)
        paths = {"platform": (platform_session, model_url),
                 "direct": (requests.Session(), f"{direct_url}/invocations")}
        times: dict[str, list[float]] = {name: [] for name in paths}
        for i in range(args.warmup + args.count):
            order = list(paths) if i % 2 == 0 else list(paths)[::-1]  # neither always goes first
            for name in order:
                elapsed = timed_post(*paths[name])
                if i >= args.warmup:
                    times[name].append(elapsed)
    finally:
        if direct is not None:
            direct.remove(force=True)
        if not args.keep:
            remove(settings, volumes=True)

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"\nmodel {MODEL} (scikit-learn, data-science environment), 1 replica of 0.5 CPU / 512M; load {load}")
    print(f"  release, new service:   API answered in {created[0]:6.2f} s, first prediction through the front"
          f" door at {created[1]:6.2f} s")
    print(f"  release, update to v{second}: API answered in {updated[0]:6.2f} s (30 s of it Swarm's watch),"
          f" answering at {updated[1]:6.2f} s")
    p50 = {}
    for name, values in times.items():
        p50[name] = statistics.median(values)
        print(f"  predictions {name:<8} p50 {p50[name] * 1e3:7.2f} ms  p99 {percentile(values, 0.99) * 1e3:7.2f} ms"
              f"  (min {min(values) * 1e3:.2f} ms, {len(values)} requests)")
    print(f"  platform/direct p50 {p50['platform'] / p50['direct']:.2f}"
          f"  (+{(p50['platform'] - p50['direct']) * 1e3:.2f} ms: TLS, nginx, the token check, the overlay)")


if __name__ == "__main__":
    main()
