"""Is JupyterLab's load in the browser waiting on the network, or on the browser's own work?

Deploys one platform stack (`eblabcache`, MLOpsSwarmSpawner, 2 CPUs / 2G, the image time_to_lab.py
uses). For N users: log in, start the server through the spawn form and wait for the launcher
(untimed: the server is warm from then on). Then JupyterLab's page is opened twice more, in turn
(the order alternates per user), each timed from the navigation to the launcher being visible:

- `empty cache`: a new browser context, logged in, nothing cached;
- `full cache`: a new tab in the context that already loaded the lab, so every static file is in
  Chromium's HTTP cache (the responses Chromium served from its cache are counted).

If a full cache makes little difference, prefetching JupyterLab's files while the server starts
cannot shorten time to lab; what is left is Chromium running JupyterLab's code and the server's API
calls. Not a test: it prints numbers.

    PYTHONPATH=. .venv/bin/python bench/lab_load_cached.py [--count 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.time_to_lab import contender, login_to_home, percentile, start  # noqa: E402
from mlops_hub.cli import default_ca_bundle  # noqa: E402
from mlops_hub.deploy.images import build_all  # noqa: E402
from mlops_hub.deploy.stack import remove  # noqa: E402
from tests.integration import browser  # noqa: E402
from tests.integration.lab_timeline import wait_for_launcher  # noqa: E402
from tests.support.edge_ca import chromium_args, trust_in_this_process  # noqa: E402

LAUNCHER_TIMEOUT_MS = 180_000  # a spawn behind other work on the machine, not a limit on the result


def launcher_at(page) -> float:
    return wait_for_launcher(page, LAUNCHER_TIMEOUT_MS)


def timed_lab_load(page, lab_url: str) -> tuple[float, int]:
    """Seconds from navigating to JupyterLab's page to its launcher; responses served from Chromium's cache."""
    cdp = page.context.new_cdp_session(page)
    from_cache = []
    # Blink's memory cache reports the first, the HTTP (disk) cache the second
    cdp.on("Network.requestServedFromCache", lambda event: from_cache.append(event["requestId"]))
    cdp.on("Network.responseReceived",
           lambda event: from_cache.append(event["requestId"]) if event["response"].get("fromDiskCache") else None)
    cdp.send("Network.enable")
    began = time.time()  # the browser's clock: wait_for_launcher answers in epoch seconds too
    page.goto(lab_url, wait_until="commit")
    return launcher_at(page) - began, len(set(from_cache))


def main() -> None:
    trust_in_this_process()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5, help="users (each gives one load of each kind)")
    parser.add_argument("--port", type=int, default=18965, help="the stack's https port (+1..+3 are used too)")
    args = parser.parse_args()

    images = build_all(REPO, default_ca_bundle())
    ours = contender("ours", "eblabcache", "mlops", args.port, images, Path(tempfile.mkdtemp(prefix="labcache-")))
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=browser.CHROMIUM,
                                          args=browser.CHROMIUM_ARGS + chromium_args())
    loads: dict[str, list[float]] = {"empty cache": [], "full cache": []}
    cached: list[int] = []
    try:
        start([ours])
        stamp = time.strftime("%H%M%S")
        for i in range(args.count):
            user = f"cache-{stamp}-{i}"
            password = ours.hub.account(user)
            primed = chromium.new_context()
            page = primed.new_page()
            login_to_home(page, ours.url, user, password)
            page.goto(f"{ours.url}/hub/spawn")
            page.click("#spawn_form [type=submit]")
            try:
                launcher_at(page)
            except PlaywrightTimeoutError:
                print(f"  user {i + 1}: the server never showed the launcher; left out", flush=True)
                continue
            page.close()  # a JupyterLab left open would poll its server and take CPU from the timed loads
            lab_url = f"{ours.url}/user/{user}/lab"
            results: dict[str, float] = {}
            for kind in (("empty cache", "full cache") if i % 2 == 0 else ("full cache", "empty cache")):
                if kind == "full cache":
                    cached_page = primed.new_page()
                    seconds, from_cache = timed_lab_load(cached_page, lab_url)
                    cached_page.close()
                    cached.append(from_cache)
                else:
                    fresh = chromium.new_context()
                    fresh_page = fresh.new_page()
                    login_to_home(fresh_page, ours.url, user, password)
                    seconds, _ = timed_lab_load(fresh_page, lab_url)
                    fresh.close()
                results[kind] = seconds
                loads[kind].append(seconds)
                time.sleep(1)
            primed.close()
            ours.hub.stop(user)
            print(f"  user {i + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in results.items())
                  + f" ({cached[-1]} responses from the cache)", flush=True)
    finally:
        chromium.close()
        playwright.stop()
        remove(ours.settings, volumes=True)

    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\nload average at the end: {' '.join(load)} ({os.cpu_count()} cores)")
    for kind, values in loads.items():
        print(f"JupyterLab page -> launcher, {kind:<12} p50 {statistics.median(values):5.2f}s"
              f"  p95 {percentile(values, 0.95):5.2f}s  (n={len(values)}, min {min(values):.2f}s)")
    print(f"responses served from Chromium's cache per full-cache load: p50 {statistics.median(cached):.0f}")
    ratio = statistics.median(loads["full cache"]) / statistics.median(loads["empty cache"])
    print(f"ratio full/empty cache p50: {ratio:.2f} (1.00: the load does not wait on the network)")


if __name__ == "__main__":
    main()
