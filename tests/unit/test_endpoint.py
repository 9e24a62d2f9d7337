"""Every dockerspawner networking mode: the endpoint spec, the refused combinations, the published port."""

import pytest
from docker.types import EndpointSpec
from traitlets import TraitError

from mlops_hub.policy.errors import ConfigError
from mlops_hub.spawner import MLOpsSwarmSpawner
from mlops_hub.swarm.endpoint import endpoint_kwargs, ipvs_available, published_port
from mlops_hub.swarm.spec import ServerSpec, build_service_kwargs

from .fakes import fake_user, spawner_config, task


def spec_for(network_name="mlops-net", use_internal_ip=True, port=8888, extra=None, publish_mode="host"):
    return EndpointSpec(**endpoint_kwargs(network_name=network_name, use_internal_ip=use_internal_ip, port=port,
                                          extra_endpoint_spec=extra or {}, publish_mode=publish_mode))


def test_internal_ip_keeps_dnsrr_and_publishes_nothing():
    assert spec_for("mlops-net", use_internal_ip=True) == {"Mode": "dnsrr"}


@pytest.mark.parametrize("network", ["bridge", "mlops-net", ""])
def test_without_internal_ip_the_port_is_published_in_host_mode_by_default(network):
    assert spec_for(network, use_internal_ip=False, port=9999) == {
        "Mode": "dnsrr",
        "Ports": [{"Protocol": "tcp", "PublishedPort": None, "TargetPort": 9999, "PublishMode": "host"}],
    }


def test_ingress_publish_mode_uses_a_virtual_ip_like_dockerspawner():
    spec = spec_for("bridge", use_internal_ip=False, publish_mode="ingress")
    assert spec["Mode"] == "vip"
    assert [(p["TargetPort"], p["PublishMode"]) for p in spec["Ports"]] == [(8888, "ingress")]


def test_host_network_publishes_nothing_the_server_listens_on_the_node():
    assert spec_for("host", use_internal_ip=False) == {"Mode": "dnsrr"}


def test_extra_endpoint_spec_still_wins():
    spec = spec_for("mlops-net", extra={"mode": "vip"})
    assert spec == {"Mode": "vip"}
    fixed = spec_for("bridge", use_internal_ip=False, extra={"ports": {30123: (8888, "tcp", "host")}})
    assert fixed["Ports"][0]["PublishedPort"] == 30123


@pytest.mark.parametrize("settings", [
    # ingress-mode port with dnsrr: Docker answers "port published with ingress mode can't be used with dnsrr"
    {"use_internal_ip": False, "publish_mode": "ingress", "extra": {"mode": "dnsrr"}},
    {"use_internal_ip": True, "extra": {"ports": {None: 8888}}},
    {"use_internal_ip": False, "extra": {"ports": [{"TargetPort": 8888, "PublishMode": "ingress"}]}},
])
def test_ingress_ports_with_dnsrr_are_refused_naming_the_settings(settings):
    with pytest.raises(ConfigError, match=r"^extra_endpoint_spec / published_port_mode: .*ingress.*dnsrr"):
        spec_for("mlops-net", **settings)


def test_ingress_ports_on_the_host_network_are_refused():
    with pytest.raises(ConfigError, match=r"^network_name / extra_endpoint_spec: .*host network"):
        spec_for("host", extra={"mode": "vip", "ports": {None: 8888}})


@pytest.mark.parametrize(("extra", "named"), [
    ({"mode": "round-robin"}, "mode must be 'vip' or 'dnsrr'"),
    ({"portz": {}}, "unknown keys \\['portz'\\]"),
    ({"ports": "8888"}, "ports: Invalid type"),
])
def test_malformed_extra_endpoint_spec_is_named(extra, named):
    with pytest.raises(ConfigError, match=f"^extra_endpoint_spec: .*{named}"):
        spec_for(extra=extra)


def test_unknown_publish_mode_is_named():
    with pytest.raises(ConfigError, match=r"^published_port_mode: must be one of \['host', 'ingress'\]"):
        spec_for(use_internal_ip=False, publish_mode="global")


def test_service_spec_carries_the_decision():
    spec = ServerSpec(name="s", image="i", args=[], env={}, network="bridge", use_internal_ip=False, port=8000)
    assert build_service_kwargs(spec)["endpoint_spec"]["Ports"][0]["TargetPort"] == 8000


def test_ingress_port_is_read_from_the_service():
    service = {"Endpoint": {"Ports": [{"TargetPort": 8888, "PublishedPort": 30001, "PublishMode": "ingress"}]}}
    assert published_port(service, None, 8888) == 30001


def test_host_mode_port_is_read_from_the_task():
    # Swarm picks the node port per task; the service's endpoint has no PublishedPort then
    service = {"Endpoint": {"Ports": [{"TargetPort": 8888, "PublishMode": "host"}]}}
    running = task("running")
    running["Status"]["PortStatus"] = {"Ports": [{"TargetPort": 8888, "PublishedPort": 32771,
                                                  "PublishMode": "host"}]}
    assert published_port(service, running, 8888) == 32771
    assert published_port(service, running, 9999) is None
    assert published_port(service, task("starting"), 8888) is None


def test_ipvs_is_detected_from_the_kernels_proc_file(tmp_path):
    assert ipvs_available(tmp_path / "absent") is False
    present = tmp_path / "ip_vs"
    present.write_text("IP Virtual Server version 1.2.1\n")
    assert ipvs_available(present) is True


# ---- the spawner: checked at construction, address from the published port ------------------


def networking_spawner(**settings) -> MLOpsSwarmSpawner:
    return MLOpsSwarmSpawner(config=spawner_config(**settings), user=fake_user())


def test_refused_combination_fails_at_spawner_construction():
    with pytest.raises(ConfigError, match="published_port_mode"):
        networking_spawner(network_name="bridge", published_port_mode="ingress", extra_endpoint_spec={"mode": "dnsrr"})


def test_publish_mode_trait_names_the_allowed_values():
    with pytest.raises(TraitError, match="published_port_mode.*'host', 'ingress'"):
        networking_spawner(published_port_mode="mesh")


def test_ingress_without_ipvs_is_explained_at_start_up(caplog, monkeypatch):
    monkeypatch.setattr("mlops_hub.swarm.endpoint.ipvs_available", lambda: False)
    networking_spawner(network_name="bridge", published_port_mode="ingress")
    assert "never answer on a node without IPVS" in caplog.text


class PortsDocker:
    """Answers get_object / tasks like a swarm where the task's port was picked by Swarm."""

    def __init__(self, service, tasks):
        self.service, self.tasks = service, tasks

    async def __call__(self, method, *args, **kwargs):
        return {"inspect_service": self.service, "tasks": self.tasks}[method]


async def test_spawner_reaches_a_host_mode_port_on_host_ip():
    spawner = networking_spawner(network_name="bridge", host_ip="127.0.0.1")
    running = task("running")
    running["Status"]["PortStatus"] = {"Ports": [{"TargetPort": 8888, "PublishedPort": 32999}]}
    spawner.docker = PortsDocker({"ID": "svc", "Endpoint": {"Ports": [{"TargetPort": 8888}]}}, [running])
    spawner.object_id = "svc"
    assert spawner.use_internal_ip is False  # dockerspawner's default for bridge
    assert await spawner.get_ip_and_port() == ("127.0.0.1", 32999)


async def test_spawner_on_the_host_network_uses_its_own_port():
    spawner = networking_spawner(network_name="host", host_ip="127.0.0.1", port=8123)
    assert await spawner.get_ip_and_port() == ("127.0.0.1", 8123)
