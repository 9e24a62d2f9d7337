"""How the hub reaches a user server: the service's endpoint spec from dockerspawner's networking settings.

Pure functions (no Docker calls), so every networking mode is decided and checked in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docker.types.services import convert_service_ports

from ..policy.errors import ConfigError

PUBLISH_MODES = ("host", "ingress")
# Docker's defaults when a spec leaves them out
_DEFAULT_ENDPOINT_MODE = "vip"
_DEFAULT_PUBLISH_MODE = "ingress"
_IPVS_PROC = Path("/proc/net/ip_vs")


def publishes_port(network_name: str, use_internal_ip: bool) -> bool:
    """dockerspawner publishes the server's port unless the hub uses the task's own IP.

    On the host network the server already listens on the node's port: nothing to publish.
    """
    return not use_internal_ip and network_name != "host"


def endpoint_kwargs(
    *,
    network_name: str,
    use_internal_ip: bool,
    port: int,
    extra_endpoint_spec: Mapping[str, Any],
    publish_mode: str = "host",
) -> dict[str, Any]:
    """Keyword arguments for docker.types.EndpointSpec; ConfigError for a spec Docker would refuse."""
    if publish_mode not in PUBLISH_MODES:
        raise ConfigError(f"published_port_mode: must be one of {list(PUBLISH_MODES)}, got {publish_mode!r}")
    if publishes_port(network_name, use_internal_ip):
        # host-mode ports need no virtual IP, so dnsrr (no IPVS) works; ingress needs a VIP
        mode = "dnsrr" if publish_mode == "host" else "vip"
        kwargs: dict[str, Any] = {"mode": mode, "ports": {None: (port, "tcp", publish_mode)}}
    else:
        # DNS round-robin: works without IPVS and needs no virtual IP for a one-task service
        kwargs = {"mode": "dnsrr"}
    kwargs.update(extra_endpoint_spec)
    check_endpoint(kwargs, network_name)
    return kwargs


def _publish_modes(ports: Any) -> list[str]:
    try:
        configs = convert_service_ports(ports) if ports else []
    except (TypeError, ValueError) as e:
        raise ConfigError(f"extra_endpoint_spec: ports: {e}") from None
    return [c.get("PublishMode") or _DEFAULT_PUBLISH_MODE for c in configs]


def check_endpoint(kwargs: Mapping[str, Any], network_name: str) -> None:
    """Refuse the combinations Docker refuses, naming the settings to change."""
    unknown = set(kwargs) - {"mode", "ports"}
    if unknown:
        raise ConfigError(f"extra_endpoint_spec: unknown keys {sorted(unknown)}; allowed: ['mode', 'ports']")
    mode = kwargs.get("mode") or _DEFAULT_ENDPOINT_MODE
    if mode not in ("vip", "dnsrr"):
        raise ConfigError(f"extra_endpoint_spec: mode must be 'vip' or 'dnsrr', got {mode!r}")
    ingress = "ingress" in _publish_modes(kwargs.get("ports"))
    if ingress and mode == "dnsrr":
        raise ConfigError(
            "extra_endpoint_spec / published_port_mode: a port published in ingress mode cannot be used"
            " with endpoint mode 'dnsrr' (Docker refuses the service); set published_port_mode = 'host',"
            " or extra_endpoint_spec mode 'vip' (ingress also needs IPVS on every node)")
    if ingress and network_name == "host":
        raise ConfigError(
            "network_name / extra_endpoint_spec: a port published in ingress mode cannot be used on the"
            " host network (Swarm rejects the task); publish nothing, the server listens on the node's port")


def uses_ingress(kwargs: Mapping[str, Any]) -> bool:
    return "ingress" in _publish_modes(kwargs.get("ports"))


def ipvs_available(proc_file: Path = _IPVS_PROC) -> bool:
    """Whether this kernel has IPVS, which Swarm's ingress routing mesh and VIPs need."""
    return proc_file.exists()


def published_port(service: Mapping[str, Any], task: Mapping[str, Any] | None, target_port: int) -> int | None:
    """The node port a server's `target_port` is published on, or None.

    Ingress ports are on the service's endpoint; a host-mode port without a fixed number is
    chosen per task and shows only in the task's port status.
    """
    service_ports = (service.get("Endpoint") or {}).get("Ports") or []
    task_ports = (((task or {}).get("Status") or {}).get("PortStatus") or {}).get("Ports") or []
    for config in [*service_ports, *task_ports]:
        if config.get("TargetPort") == target_port and config.get("PublishedPort"):
            return int(config["PublishedPort"])
    return None
