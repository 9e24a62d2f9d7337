"""The platform.yaml the benchmarks deploy: one environment, one role sized CPU/MEM for everyone."""

from __future__ import annotations

from pathlib import Path

import yaml


def one_size_platform(state: Path, lab_image: str, cpu: float, mem: str, plain_too: bool = False) -> Path:
    """platform.yaml in `state`; plain_too: plain SwarmSpawner's section gets the same size."""
    document = {"spawner": {
        "environments": [{"slug": "python", "image": lab_image}],
        "role_policies": {"default": {"max_cpu": cpu, "max_mem": mem, "default_cpu": cpu, "default_mem": mem}},
    }}
    if plain_too:
        document["swarm_spawner"] = {"cpu_limit": cpu, "mem_limit": mem}
    path = state / "platform.yaml"
    path.write_text(yaml.safe_dump(document))
    return path
