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

# what sharedLookup does with a lookup that answers when told to, on a clock the script moves
LOOKUP_SCRIPT = """
const {sharedLookup, ttlFromEnv} = require("@MODULE@");
const settle = () => new Promise((r) => setImmediate(r));
(async () => {
  let calls = 0, now = 0;
  const pending = [];
  const lookup = sharedLookup((host, opts, cb) => { calls++; pending.push(cb); }, 1000, () => now);
  const seen = {};
  const answers = [];
  for (let i = 0; i < 20; i++) lookup("hub", {}, (err, ip) => answers.push(err ? "error" : ip));
  seen.together = {calls, waiting: answers.length};
  pending.shift()(null, "10.0.0.7", 4);
  seen.together.answers = answers.splice(0);
  now = 999; lookup("hub", {}, (err, ip) => answers.push(ip)); await settle();
  seen.withinTtl = {calls, answers: answers.splice(0)};
  now = 1000; lookup("hub", {}, (err, ip) => answers.push(ip));
  pending.shift()(null, "10.0.0.8", 4);
  seen.afterTtl = {calls, answers: answers.splice(0)};
  lookup("hub", {all: true}, (err, list) => answers.push(list));
  pending.shift()(null, [{address: "10.0.0.8", family: 4}]);
  seen.otherOptions = {calls, answers: answers.splice(0)};
  now = 5000;
  lookup("nohub", 4, (err) => answers.push(err.code)); lookup("nohub", 4, (err) => answers.push(err.code));
  pending.shift()(Object.assign(new Error("not found"), {code: "ENOTFOUND"}));
  lookup("nohub", 4, () => {});
  seen.failure = {calls, answers: answers.splice(0)};
  seen.ttl = [undefined, "", " ", "0", "250", "-1", "soon"].map((v) => ttlFromEnv({MLOPS_PROXY_DNS_TTL_MS: v}));
  console.log(JSON.stringify(seen));
})();
""".replace("@MODULE@", MODULE)


def test_lookups_arriving_together_share_one_answer_kept_for_the_ttl_and_failures_are_not_kept(images):
    out = docker.from_env().containers.run(images["hub"], ["node", "-e", LOOKUP_SCRIPT], entrypoint=[],
                                           network_mode="none", remove=True).decode()
    seen = json.loads(out)
    assert seen["together"] == {"calls": 1, "waiting": 0, "answers": ["10.0.0.7"] * 20}, seen
    assert seen["withinTtl"] == {"calls": 1, "answers": ["10.0.0.7"]}, seen
    assert seen["afterTtl"] == {"calls": 2, "answers": ["10.0.0.8"]}, seen
    assert seen["otherOptions"] == {"calls": 3, "answers": [[{"address": "10.0.0.8", "family": 4}]]}, seen
    # both waiters get the failure; the next request asks again
    assert seen["failure"] == {"calls": 5, "answers": ["ENOTFOUND", "ENOTFOUND"]}, seen
    assert seen["ttl"] == [1000, 1000, 1000, 0, 250, 1000, 1000], seen


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
