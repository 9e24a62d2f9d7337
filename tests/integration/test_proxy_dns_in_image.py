"""The hub image's proxy (configurable-http-proxy, started by mlops-hub-proxy) shares one DNS lookup of the
hub among the requests arriving together (images/hub/proxy-dns-cache.js): run in the image's own Node, and
counted at libuv's getaddrinfo with the real proxy in front of a hub found through Docker's DNS."""

from __future__ import annotations

import json
import secrets
import time
import uuid

import docker
import pytest

pytestmark = pytest.mark.swarm

MODULE = "/usr/local/lib/mlops-hub/proxy-dns-cache.js"

# what sharedLookup does with a lookup that answers when told to (`answer`), on a clock the script moves;
# each step records how many lookups ran and what the callers got
LOOKUP_SCRIPT = """
const {sharedLookup, ttlFromEnv} = require("@MODULE@");
const settle = () => new Promise((r) => setImmediate(r));
(async () => {
  let calls = 0, now = 0;
  const pending = [];
  const fake = (host, opts, cb) => { calls++; pending.push(cb); };
  const answer = (...args) => pending.shift()(...args);
  const got = [];
  const ask = (lookup, host, opts) => lookup(host, opts, (err, ip) => got.push(err ? err.code : ip));
  const step = async () => { await settle(); return {calls, got: got.splice(0)}; };
  const seen = {};
  const lookup = sharedLookup(fake, 1000, () => now);
  for (let i = 0; i < 20; i++) ask(lookup, "hub", {});
  seen.beforeTheAnswer = await step();
  answer(null, "10.0.0.7", 4);
  seen.together = await step();
  now = 999; ask(lookup, "hub", {});
  seen.withinTtl = await step();
  now = 1000; ask(lookup, "hub", {}); ask(lookup, "hub", {});
  seen.staleGivenAtOnce = await step();
  answer(null, "10.0.0.8", 4); ask(lookup, "hub", {});
  seen.refreshed = await step();
  now = 11000; ask(lookup, "hub", {});
  seen.tooStaleWaits = await step();
  answer(null, "10.0.0.9", 4);
  seen.tooStaleAnswered = await step();
  ask(lookup, "hub", {all: true});
  answer(null, [{address: "10.0.0.9", family: 4}]);
  seen.otherOptions = await step();
  now = 12000; ask(lookup, "hub", {});
  answer(Object.assign(new Error("gone"), {code: "ENOTFOUND"})); ask(lookup, "hub", {});
  seen.failedRefreshDropsTheAnswer = await step();
  answer(Object.assign(new Error("gone"), {code: "ENOTFOUND"}));
  seen.failureToTheWaiter = await step();
  ask(lookup, "hub", {});
  seen.failureNotKept = await step();
  const uncached = sharedLookup(fake, 0, () => now);
  calls = 0; pending.length = 0;
  ask(uncached, "hub", {}); answer(null, "10.0.0.7", 4); ask(uncached, "hub", {}); answer(null, "10.0.0.7", 4);
  seen.ttlZeroKeepsNothing = await step();
  seen.ttl = [undefined, "", " ", "0", "250", "-1", "soon", "Infinity"].map((v) => {
    try { return ttlFromEnv({MLOPS_PROXY_DNS_TTL_MS: v}); } catch (e) { return e.message; }
  });
  console.log(JSON.stringify(seen));
})();
""".replace("@MODULE@", MODULE)


def test_lookups_arriving_together_share_one_answer_refreshed_in_the_background_and_failures_are_not_kept(images):
    out = docker.from_env().containers.run(images["hub"], ["node", "-e", LOOKUP_SCRIPT], entrypoint=[],
                                           network_mode="none", remove=True).decode()
    seen = json.loads(out)
    assert seen["beforeTheAnswer"] == {"calls": 1, "got": []}, seen
    assert seen["together"] == {"calls": 1, "got": ["10.0.0.7"] * 20}, seen
    assert seen["withinTtl"] == {"calls": 1, "got": ["10.0.0.7"]}, seen
    # past the TTL the kept answer is given at once, and one lookup refreshes it for the next caller
    assert seen["staleGivenAtOnce"] == {"calls": 2, "got": ["10.0.0.7", "10.0.0.7"]}, seen
    assert seen["refreshed"] == {"calls": 2, "got": ["10.0.0.8"]}, seen
    # ten TTLs old: the caller waits for the lookup
    assert seen["tooStaleWaits"] == {"calls": 3, "got": []}, seen
    assert seen["tooStaleAnswered"] == {"calls": 3, "got": ["10.0.0.9"]}, seen
    assert seen["otherOptions"] == {"calls": 4, "got": [[{"address": "10.0.0.9", "family": 4}]]}, seen
    # the refresh failed (the hub's name is gone): the old address is not given again, the next caller waits
    assert seen["failedRefreshDropsTheAnswer"] == {"calls": 6, "got": ["10.0.0.9"]}, seen
    assert seen["failureToTheWaiter"] == {"calls": 6, "got": ["ENOTFOUND"]}, seen
    assert seen["failureNotKept"] == {"calls": 7, "got": []}, seen
    assert seen["ttlZeroKeepsNothing"] == {"calls": 2, "got": ["10.0.0.7", "10.0.0.7"]}, seen
    refused = "MLOPS_PROXY_DNS_TTL_MS: milliseconds, 0 or more (empty: 1000), got "
    assert seen["ttl"] == [1000, 1000, 1000, 0, 250, f"{refused}'-1'", f"{refused}'soon'", f"{refused}'Infinity'"], seen


def test_a_bad_ttl_stops_the_proxy_with_one_line_naming_the_variable(images):
    with pytest.raises(docker.errors.ContainerError) as failed:
        docker.from_env().containers.run(
            images["hub"], ["sh", "-c", "echo t > /tmp/token && MLOPS_PROXY_TOKEN_FILE=/tmp/token mlops-hub-proxy"],
            entrypoint=[], network_mode="none", remove=True, environment={"MLOPS_PROXY_DNS_TTL_MS": "1s"})
    assert failed.value.exit_status == 2
    assert failed.value.stderr.decode().strip() == (
        "mlops-hub-proxy: MLOPS_PROXY_DNS_TTL_MS: milliseconds, 0 or more (empty: 1000), got '1s'")


# loaded after the cache (mlops-hub-proxy puts its own --require first): counts the proxy's real
# getaddrinfo calls, which libuv makes for each dns.lookup that reaches the resolver
COUNTER = """
const fs = require("fs");
let lookups = 0;
require("async_hooks").createHook({init(id, type) {
  if (type === "GETADDRINFOREQWRAP") fs.writeFileSync("/tmp/lookups", String(++lookups));
}}).enable();
"""

# 60 requests at once through the proxy to its default target (the hub), each on its own connection
BURST = """
import concurrent.futures, urllib.error, urllib.request
def get(i):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:8000/hub/api/burst-{i}", timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
with concurrent.futures.ThreadPoolExecutor(60) as pool:
    print(sorted(set(pool.map(get, range(60)))))
"""


def lookups_for_a_burst(image: str, command: list[str]) -> tuple[int, str]:
    """Start the proxy with `command` beside a hub on a network of its own (Docker's DNS names it), send it a
    burst of requests, and return how many getaddrinfo calls the proxy made, with what the burst saw."""
    client = docker.from_env()
    name = f"mlops-dns-{uuid.uuid4().hex[:8]}"
    network = client.networks.create(name, driver="bridge")
    hub = proxy = None
    try:
        hub = client.containers.run(image, ["python3", "-m", "http.server", "8081", "--bind", "0.0.0.0"],
                                    entrypoint=[], name=f"{name}-hub", network=name, detach=True, working_dir="/tmp")
        token = secrets.token_hex(16)
        setup = (f"printf %s {token} > /tmp/token && printf %s '{COUNTER}' > /tmp/counter.js"
                 f" && MLOPS_PROXY_TOKEN_FILE=/tmp/token NODE_OPTIONS='--require /tmp/counter.js' exec ")
        proxy = client.containers.run(image, ["sh", "-c", setup + " ".join(command)], entrypoint=[],
                                      name=f"{name}-proxy", network=name, detach=True,
                                      # kept for the whole test: the count does not depend on how fast the burst is
                                      environment={"MLOPS_HUB_HOST": f"{name}-hub", "MLOPS_PROXY_DNS_TTL_MS": "600000"})
        while proxy.exec_run(["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 8000), 1)"]
                             ).exit_code != 0:
            proxy.reload()
            assert proxy.status == "running", proxy.logs().decode()
            time.sleep(0.2)
        before = int(proxy.exec_run(["sh", "-c", "cat /tmp/lookups 2>/dev/null || echo 0"]).output)
        burst = proxy.exec_run(["python3", "-c", BURST]).output.decode()
        after = int(proxy.exec_run(["sh", "-c", "cat /tmp/lookups 2>/dev/null || echo 0"]).output)
        return after - before, burst
    finally:
        for container in (proxy, hub):
            if container is not None:
                container.remove(force=True)
        network.remove()


def test_the_stacks_proxy_looks_the_hub_up_once_for_a_burst_where_the_plain_proxy_looks_it_up_per_request(images):
    plain = ["configurable-http-proxy", "--ip 0.0.0.0 --port 8000 --default-target http://$MLOPS_HUB_HOST:8081"]
    plain_lookups, plain_burst = lookups_for_a_burst(images["hub"], plain)
    ours_lookups, ours_burst = lookups_for_a_burst(images["hub"], ["mlops-hub-proxy"])
    # the fake hub (python's http.server) answers 404 for every path: each request reached it
    assert plain_burst.strip() == "[404]" and ours_burst.strip() == "[404]", (plain_burst, ours_burst)
    assert plain_lookups >= 60, plain_lookups  # the counter sees what it is meant to
    assert ours_lookups == 1, ours_lookups
