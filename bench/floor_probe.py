"""Runs inside the hub container (on the overlay network, with the docker socket): the floor.

Times `docker service create` of the lab image running plain JupyterLab -> `/api/status`
answering on the task's own address, polled every 20 ms. Prints one number (seconds) per line.
Usage: python floor_probe.py IMAGE NETWORK COUNT CPU MEM_BYTES
"""

import sys
import time
import urllib.request

import docker
from docker.types import EndpointSpec, Resources, RestartPolicy

image, network, count, cpu, mem = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
client = docker.APIClient()
for i in range(count):
    name = f"mlops-bench-floor-{i}"
    start = time.perf_counter()
    container = docker.types.ContainerSpec(
        image, command=["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser",
                        "--IdentityProvider.token=", "--ServerApp.password="], user="1000:100")
    task = docker.types.TaskTemplate(container, resources=Resources(cpu_limit=int(cpu * 1e9), mem_limit=mem),
                                     restart_policy=RestartPolicy("none"), networks=[network])
    client.create_service(task, name=name, endpoint_spec=EndpointSpec(mode="dnsrr"),
                          labels={"mlops-hub.bench": "floor"})
    address = None
    while address is None:
        for t in client.tasks(filters={"service": name}):
            for att in t.get("NetworksAttachments") or []:
                if att["Network"]["Spec"]["Name"] == network and att.get("Addresses"):
                    address = att["Addresses"][0].split("/")[0]
        time.sleep(0.02)
    while True:
        try:
            urllib.request.urlopen(f"http://{address}:8888/api/status", timeout=1).read()
            break
        except OSError:
            time.sleep(0.02)
    print(f"{time.perf_counter() - start:.3f}", flush=True)
    client.remove_service(name)
    time.sleep(2)  # let the container stop before the next one, as between spawns
