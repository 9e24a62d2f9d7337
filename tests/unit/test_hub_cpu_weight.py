"""The hub finds its own container and raises its CPU weight; a failure never stops the hub."""

from mlops_hub.hub import cpu_weight

CONTAINER = "b5d298607caf237f333c7a92de3cbe9d118118b0b1685ac3f7c4e1a5fd9518f3"
MOUNTINFO = f"""\
1096 1 0:71 / / rw,relatime master:1 - overlay overlay rw
1154 1096 254:0 /var/lib/docker/containers/{CONTAINER}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw
1155 1096 254:0 /var/lib/docker/containers/{CONTAINER}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw
1156 1096 254:0 /var/lib/docker/containers/{CONTAINER}/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw
"""


class FakeDocker:
    def __init__(self, fail=False):
        self.updates = []
        self.fail = fail

    def update_container(self, container, **kwargs):
        if self.fail:
            raise PermissionError("permission denied on /var/run/docker.sock")
        self.updates.append((container, kwargs))


def test_the_container_id_is_read_from_the_hostname_mount():
    assert cpu_weight.own_container_id(MOUNTINFO) == CONTAINER


def test_outside_a_container_there_is_no_id():
    assert cpu_weight.own_container_id("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n") is None


def test_the_hub_sets_its_own_weight(tmp_path, monkeypatch):
    (tmp_path / "mountinfo").write_text(MOUNTINFO)
    monkeypatch.setattr(cpu_weight, "MOUNTINFO", tmp_path / "mountinfo")
    docker = FakeDocker()
    assert cpu_weight.raise_own_cpu_weight(8192, docker) is True
    assert docker.updates == [(CONTAINER, {"cpu_shares": 8192})]


def test_a_docker_error_is_a_warning_not_a_failure(tmp_path, monkeypatch, caplog):
    (tmp_path / "mountinfo").write_text(MOUNTINFO)
    monkeypatch.setattr(cpu_weight, "MOUNTINFO", tmp_path / "mountinfo")
    assert cpu_weight.raise_own_cpu_weight(8192, FakeDocker(fail=True)) is False
    assert "permission denied" in caplog.text


def test_zero_leaves_dockers_default(tmp_path, monkeypatch):
    docker = FakeDocker()
    assert cpu_weight.raise_own_cpu_weight(0, docker) is False
    assert docker.updates == []
