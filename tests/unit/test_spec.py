"""The Swarm service spec of a user server, and reservations from guarantees."""

import pytest

from mlops_hub.names import label
from mlops_hub.swarm.spec import ServerSpec, build_service_kwargs, nano_cpus, reservation

from .fakes import GiB, MiB

LABELS = {label("managed"): "true", label("user"): "alice", label("environment"): "torch"}


def server_spec(**overrides) -> ServerSpec:
    values = {
        "name": "mlops-lab-alice",
        "image": "mlops-hub/lab-torch:2.4",
        "args": ["jupyterhub-singleuser"],
        "env": {"JUPYTERHUB_USER": "alice"},
        "network": "mlops-hub",
        "cpu_limit": 2.0,
        "cpu_reservation": 0.5,
        "mem_limit": 4 * GiB,
        "mem_reservation": 1 * GiB,
        "labels": dict(LABELS),
    }
    values.update(overrides)
    return ServerSpec(**values)


def test_labels_are_namespaced():
    assert label("user") == "mlops-hub.user"


def test_crashing_server_is_not_restarted():
    kwargs = build_service_kwargs(server_spec())
    assert kwargs["task_template"]["RestartPolicy"]["Condition"] == "none"


def test_endpoint_uses_dns_round_robin():
    assert build_service_kwargs(server_spec())["endpoint_spec"] == {"Mode": "dnsrr"}


def test_labels_are_on_the_service_and_on_the_container():
    kwargs = build_service_kwargs(server_spec())
    assert kwargs["labels"] == LABELS
    assert kwargs["task_template"]["ContainerSpec"]["Labels"] == LABELS


def test_limits_and_reservations_equal_the_request():
    resources = build_service_kwargs(server_spec())["task_template"]["Resources"]
    assert resources == {
        "Limits": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 4 * GiB},
        "Reservations": {"NanoCPUs": 500_000_000, "MemoryBytes": 1 * GiB},
    }


def test_no_reservation_means_no_reservation_section():
    spec = server_spec(cpu_reservation=None, mem_reservation=None)
    resources = build_service_kwargs(spec)["task_template"]["Resources"]
    assert resources == {"Limits": {"NanoCPUs": 2_000_000_000, "MemoryBytes": 4 * GiB}}


def test_service_name_image_args_env_network_and_user():
    kwargs = build_service_kwargs(server_spec(user="1000:100"))
    container = kwargs["task_template"]["ContainerSpec"]
    assert kwargs["name"] == "mlops-lab-alice"
    assert container["Image"] == "mlops-hub/lab-torch:2.4"
    # arguments, like dockerspawner: the image's ENTRYPOINT (e.g. tini) still runs first
    assert container["Args"] == ["jupyterhub-singleuser"]
    assert container.get("Command") is None
    assert container["Env"] == ["JUPYTERHUB_USER=alice"]
    assert container["User"] == "1000:100"
    assert kwargs["task_template"]["Networks"] == [{"Target": "mlops-hub"}]


def test_without_user_and_network_neither_is_set():
    kwargs = build_service_kwargs(server_spec(user=None, network=""))
    assert "User" not in kwargs["task_template"]["ContainerSpec"]
    assert kwargs["task_template"].get("Networks", []) == []


def test_admin_extra_specs_override_ours():
    spec = server_spec(
        extra_container_spec={"user": "0", "labels": {"site": "x"}},
        extra_resources_spec={"mem_limit": 16 * GiB},
        extra_placement_spec={"constraints": ["node.labels.gpu == true"]},
        extra_endpoint_spec={"mode": "vip"},
    )
    kwargs = build_service_kwargs(spec)
    template = kwargs["task_template"]
    assert template["ContainerSpec"]["User"] == "0"
    assert template["ContainerSpec"]["Labels"] == {"site": "x"}
    assert template["Resources"]["Limits"]["MemoryBytes"] == 16 * GiB
    assert template["Resources"]["Limits"]["NanoCPUs"] == 2_000_000_000
    assert template["Placement"] == {"Constraints": ["node.labels.gpu == true"]}
    assert kwargs["endpoint_spec"] == {"Mode": "vip"}


def test_admin_extra_task_spec_and_create_kwargs_override_ours():
    spec = server_spec(
        extra_task_spec={"restart_policy": {"Condition": "on-failure"}},
        extra_create_kwargs={"labels": {"site": "x"}, "mode": {"Replicated": {"Replicas": 1}}},
    )
    kwargs = build_service_kwargs(spec)
    assert kwargs["task_template"]["RestartPolicy"] == {"Condition": "on-failure"}
    assert kwargs["labels"] == {"site": "x"}
    assert kwargs["mode"] == {"Replicated": {"Replicas": 1}}


@pytest.mark.parametrize("cpu, nano", [(2.0, 2_000_000_000), (0.5, 500_000_000), (0.1, 100_000_000),
                                       (None, None), (0, None)])
def test_nano_cpus(cpu, nano):
    assert nano_cpus(cpu) == nano


def test_reservation_absolute_guarantee_wins_over_fraction():
    assert reservation(4.0, 1.0, 0.5) == 1.0
    assert reservation(4 * GiB, 512 * MiB, 0.5) == 512 * MiB


def test_reservation_absolute_guarantee_is_capped_at_the_limit():
    assert reservation(2.0, 3.0, None) == 2.0
    assert reservation(1 * GiB, 4 * GiB, 0.1) == 1 * GiB


def test_reservation_as_fraction_of_the_limit_keeps_the_type():
    assert reservation(2.0, None, 0.25) == 0.5
    mem = reservation(4 * GiB, None, 0.25)
    assert mem == 1 * GiB and isinstance(mem, int)
    assert reservation(3 * GiB + 1, 0, 0.5) == (3 * GiB + 1) // 2


def test_no_guarantee_and_no_fraction_means_no_reservation():
    assert reservation(2.0, None, None) is None
    assert reservation(2.0, 0, 0.0) is None


def test_without_a_limit_only_the_absolute_guarantee_counts():
    assert reservation(None, 1.5, 0.5) == 1.5
    assert reservation(None, None, 0.5) is None
    assert reservation(None, 0, None) is None
