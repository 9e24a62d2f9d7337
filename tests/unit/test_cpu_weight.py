"""The hub finds its own container and stack and raises their CPU weight; a failure never stops the hub."""

from mlops_hub.swarm import cpu_weight

HUB = "b5d298607caf237f333c7a92de3cbe9d118118b0b1685ac3f7c4e1a5fd9518f3"
PROXY, SERVER = "a" * 64, "c" * 64
MOUNTINFO = f"""\
1096 1 0:71 / / rw,relatime master:1 - overlay overlay rw
1154 1096 254:0 /var/lib/docker/containers/{HUB}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw
1155 1096 254:0 /var/lib/docker/containers/{HUB}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw
1156 1096 254:0 /var/lib/docker/containers/{HUB}/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw
"""


def container(cid, shares=0, running=True, stack="mlops-hub"):
    return {"Id": cid, "State": {"Running": running}, "HostConfig": {"CpuShares": shares},
            "Config": {"Labels": {"com.docker.stack.namespace": stack} if stack else {}}}


class FakeDocker:
    def __init__(self, containers, fail=False):
        self.by_id = {c["Id"]: c for c in containers}
        self.updates = []
        self.fail = fail

    def inspect_container(self, cid):
        return self.by_id[cid]

    def containers(self, filters):
        key, value = filters["label"].split("=")
        return [{"Id": c["Id"]} for c in self.by_id.values() if c["Config"]["Labels"].get(key) == value]

    def update_container(self, cid, **kwargs):
        if self.fail:
            raise PermissionError("permission denied on /var/run/docker.sock")
        self.updates.append((cid, kwargs))


def in_container(tmp_path, monkeypatch):
    (tmp_path / "mountinfo").write_text(MOUNTINFO)
    monkeypatch.setattr(cpu_weight, "MOUNTINFO", tmp_path / "mountinfo")


def test_the_container_id_is_read_from_the_hostname_mount():
    assert cpu_weight.own_container_id(MOUNTINFO) == HUB


def test_outside_a_container_there_is_no_id():
    assert cpu_weight.own_container_id("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n") is None


def test_only_running_containers_not_yet_weighed_are_changed():
    containers = [container("a", 0), container("b", 8192), container("c", 1024, running=False)]
    assert cpu_weight.needing_weight(containers, 8192) == ["a"]


def test_the_hubs_stack_is_weighed_and_user_servers_are_not(tmp_path, monkeypatch):
    in_container(tmp_path, monkeypatch)
    docker = FakeDocker([container(HUB), container(PROXY), container(SERVER, stack=None)])
    assert cpu_weight.raise_platform_cpu_weight(8192, docker, every=0) is True
    assert docker.updates == [(HUB, {"cpu_shares": 8192}), (PROXY, {"cpu_shares": 8192})]


def test_a_hub_outside_a_stack_weighs_only_itself(tmp_path, monkeypatch):
    in_container(tmp_path, monkeypatch)
    docker = FakeDocker([container(HUB, stack=None), container(SERVER, stack=None)])
    assert cpu_weight.weigh_stack(4096, docker) == [HUB]


def test_a_docker_error_is_a_warning_not_a_failure(tmp_path, monkeypatch, caplog):
    in_container(tmp_path, monkeypatch)
    assert cpu_weight.raise_platform_cpu_weight(8192, FakeDocker([container(HUB)], fail=True), every=0) is False
    assert "permission denied" in caplog.text


def test_zero_leaves_dockers_default():
    docker = FakeDocker([container(HUB)])
    assert cpu_weight.raise_platform_cpu_weight(0, docker) is False
    assert docker.updates == []
