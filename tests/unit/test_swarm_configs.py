"""Swarm configs/secrets and volume provisioning against a fake Docker client (no Docker)."""

from __future__ import annotations

import pytest
from docker.errors import APIError, NotFound
from requests import Response

from mlops_hub.policy.errors import ConfigError
from mlops_hub.policy.package_index import package_index_from_config, render_delivery
from mlops_hub.policy.storage import storage_from_config
from mlops_hub.provision import provision, server_owner
from mlops_hub.swarm.configs import ensure_references, is_missing_reference, remove_unused
from mlops_hub.swarm.home_node import LABEL_HOME_NODE, record_home_node, recorded_home_node, this_node_id

PASSWORD = "fake-pa55word"


def _error(status: int, cls=APIError, text: str = "") -> APIError:
    response = Response()
    response.status_code = status
    return cls(text or str(status), response=response, explanation=text or None)


class FakeDocker:
    """The few APIClient calls configs.py, volumes.py and provision.py make."""

    def __init__(self):
        self.objects: dict[str, dict] = {}  # id -> {"ID", "Spec": {"Name", "Labels"}, "secret", "data"}
        self.service_specs: list[dict] = []
        self.volumes: dict[str, dict] = {}
        self.containers: list[dict] = []
        self.conflict_once = False
        self.node_id = "nodehub"

    def info(self):
        return {"Swarm": {"NodeID": self.node_id}}

    def _list(self, secret: bool, filters: dict) -> list[dict]:
        found = [o for o in self.objects.values() if o["secret"] == secret]
        if "name" in filters:
            found = [o for o in found if o["Spec"]["Name"].startswith(filters["name"])]
        for item in filters.get("label", []):
            key, _, value = item.partition("=")
            found = [o for o in found if o["Spec"]["Labels"].get(key) == value]
        return found

    def configs(self, filters=None):
        return self._list(False, filters or {})

    def secrets(self, filters=None):
        return self._list(True, filters or {})

    def _create(self, secret: bool, name: str, data: bytes, labels=None):
        if self.conflict_once:
            # another hub thread created it between our look-up and create
            self.conflict_once = False
            self._create(secret, name, data, labels)
            raise _error(409)
        object_id = f"id{len(self.objects)}"
        self.objects[object_id] = {"ID": object_id, "Spec": {"Name": name, "Labels": labels or {}},
                                   "secret": secret, "data": data,
                                   "CreatedAt": f"2026-12-03T00:00:{len(self.objects):02d}Z"}
        return {"ID": object_id}

    def create_config(self, name, data, labels=None):
        return self._create(False, name, data, labels)

    def create_secret(self, name, data, labels=None):
        return self._create(True, name, data, labels)

    def _remove(self, object_id):
        if object_id not in self.objects:
            raise _error(404, NotFound)
        del self.objects[object_id]

    remove_config = remove_secret = _remove

    def services(self):
        return [{"Spec": {"TaskTemplate": {"ContainerSpec": spec}}} for spec in self.service_specs]

    def inspect_volume(self, name):
        if name not in self.volumes:
            raise _error(404, NotFound)
        return self.volumes[name]

    def create_volume(self, name, driver=None, labels=None):
        self.volumes[name] = {"Name": name, "Labels": labels}

    def create_host_config(self, **kwargs):
        return kwargs

    def create_container(self, image, **kwargs):
        self.containers.append({"image": image, **kwargs})
        return {"Id": f"c{len(self.containers)}"}

    def start(self, container):
        pass

    def wait(self, container, timeout=None):
        return {"StatusCode": 0}

    def remove_container(self, container, force=False):
        pass


def _files(raw=None):
    raw = raw or {"index_url": "https://pypi.corp/simple", "username": "bot", "password_file": "/run/secrets/pw"}
    return render_delivery(package_index_from_config(raw).for_role(None), PASSWORD).files


def test_references_carry_owner_and_modes_and_reuse_existing_objects():
    client = FakeDocker()
    refs = ensure_references(client, "pfx", _files(), 1000, 100)
    netrc = {"Name": "mlops-hub-netrc", "UID": "1000", "GID": "100", "Mode": 0o400}
    assert [r["File"] for r in refs.secrets] == [netrc]
    assert {r["File"]["Name"] for r in refs.configs} == {"/etc/mlops-hub/pip.conf", "/etc/mlops-hub/uv.toml",
                                                         "/etc/mlops-hub/condarc"}
    assert all(r["File"]["Mode"] == 0o444 for r in refs.configs)
    count = len(client.objects)
    again = ensure_references(client, "pfx", _files(), 1000, 100)
    assert len(client.objects) == count  # same content: same objects
    assert [r["SecretID"] for r in again.secrets] == [r["SecretID"] for r in refs.secrets]
    labels = next(iter(client.objects.values()))["Spec"]["Labels"]
    assert labels["mlops-hub.prefix"] == "pfx" and labels["mlops-hub.managed"] == "true"


def test_concurrent_create_conflict_finds_the_other_object():
    client = FakeDocker()
    client.conflict_once = True
    refs = ensure_references(client, "pfx", _files()[:1], 0, 0)
    assert refs.configs[0]["ConfigID"] in client.objects


def test_remove_unused_keeps_referenced_and_foreign_objects():
    client = FakeDocker()
    used = ensure_references(client, "pfx", _files(), 1000, 100)
    client.service_specs.append({"Configs": [dict(r) for r in used.configs],
                                 "Secrets": [dict(r) for r in used.secrets]})
    stale = ensure_references(client, "pfx", _files({"index_url": "https://other.corp/simple"}), 1000, 100)
    client.create_secret("token", b"t", labels={"mlops-hub.prefix": "pfx"})  # not ours: no managed label
    client.create_config("other-prefix", b"x", labels={"mlops-hub.prefix": "other", "mlops-hub.managed": "true"})
    stale_names = {client.objects[r["ConfigID"]]["Spec"]["Name"] for r in stale.configs}
    kept_ids = {r["ConfigID"] for r in used.configs} & {r["ConfigID"] for r in stale.configs}
    removed = remove_unused(client, "pfx")
    assert set(removed) == stale_names - {client.objects[i]["Spec"]["Name"] for i in kept_ids}
    names = {o["Spec"]["Name"] for o in client.objects.values()}
    assert {"token", "other-prefix"} <= names
    assert all(r["SecretID"] in client.objects for r in used.secrets)


def test_missing_reference_error_is_recognised():
    assert is_missing_reference(_error(404, text="secret mlops-netrc-abc not found"))
    assert not is_missing_reference(_error(500, text="no such image"))


def test_provision_reads_password_file_and_names_the_setting_when_missing(tmp_path):
    index = package_index_from_config({"index_url": "https://pypi.corp/simple", "username": "bot",
                                       "password_file": str(tmp_path / "missing")}).for_role(None)
    client = FakeDocker()
    with pytest.raises(ConfigError, match=r"package_index.password_file: cannot read .*missing"):
        provision(client, prefix="p", username="alice", roles=[], image="img", owner=(1000, 100),
                  index=index, storage=None, system_roots_file=None)
    assert not client.objects  # nothing created before the settings are known to work
    (tmp_path / "missing").write_text(PASSWORD + "\n")
    out = provision(client, prefix="p", username="alice", roles=[], image="img", owner=(1000, 100),
                    index=index, storage=None, system_roots_file=None)
    netrc = next(o for o in client.objects.values() if o["secret"])
    assert netrc["data"] == f"machine pypi.corp\nlogin bot\npassword {PASSWORD}\n\n".encode()
    assert PASSWORD not in repr(out) and all(PASSWORD not in v for v in out.env.values())


def test_provision_local_volumes_created_once_with_owner_from_the_server_image():
    storage = storage_from_config({"backend": "local", "roles": {"team": {"team": True, "datasets": ["d"]}}})
    client = FakeDocker()
    out = provision(client, prefix="p", username="alice", roles=["team"], image="lab:1", owner=(1000, 100),
                    index=None, storage=storage, system_roots_file=None)
    assert [m["Target"] for m in out.mounts] == ["/home/jovyan", "/home/jovyan/teams/team",
                                                 "/home/jovyan/datasets/d"]
    assert len(client.containers) == 2  # home and team; a read-only dataset is never chowned
    assert all(c["image"] == "lab:1" and c["user"] == "0:0" for c in client.containers)
    assert "chown 1000:100" in client.containers[1]["entrypoint"][-1]
    provision(client, prefix="p", username="alice", roles=["team"], image="lab:1", owner=(1000, 100),
              index=None, storage=storage, system_roots_file=None)
    assert len(client.containers) == 2  # existing volumes are left alone


def test_server_owner_from_storage_run_as_or_image_user():
    storage = storage_from_config({"backend": "local", "owner": "1001:101"})
    assert server_owner(storage, None, "jovyan") == (1001, 101)
    assert server_owner(None, "1000:100", "") == (1000, 100)
    assert server_owner(None, None, "1000:100") == (1000, 100)
    with pytest.raises(ConfigError, match="storage.owner: the server runs as 'jovyan'"):
        server_owner(None, None, "jovyan")


def test_provision_records_the_hubs_node_as_the_home_of_a_local_home_at_the_first_spawn():
    storage = storage_from_config({"backend": "local"})
    client = FakeDocker()
    out = provision(client, prefix="p", username="alice", roles=[], image="lab:1", owner=(1000, 100),
                    index=None, storage=storage, system_roots_file=None)
    assert out.home_node == "nodehub" and [m["Source"] for m in out.mounts] == list(client.volumes)
    assert recorded_home_node(client, "p", "alice") == "nodehub"
    assert recorded_home_node(client, "p", "bob") is None and recorded_home_node(client, "other", "alice") is None
    nfs = storage_from_config({"backend": "nfs", "nfs": {"server": "10.0.0.5", "export": "/srv/ml"}})
    assert provision(client, prefix="p", username="carol", roles=[], image="lab:1", owner=(1000, 100),
                     index=None, storage=nfs, system_roots_file=None).home_node is None  # any node will do


def test_the_hubs_node_is_asked_of_docker_once_per_client():
    asked = []

    class Counting(FakeDocker):
        def info(self):
            asked.append(self)
            return super().info()

    first, second = Counting(), Counting()
    second.node_id = "worker1"
    assert [this_node_id(first), this_node_id(first), this_node_id(second)] == ["nodehub", "nodehub", "worker1"]
    assert asked == [first, second]


def test_a_home_moved_to_another_node_is_not_made_again_here_and_pins_the_server_there():
    storage = storage_from_config({"backend": "local"})
    client = FakeDocker()
    record_home_node(client, "p", "alice", "nodehub")
    record_home_node(client, "p", "alice", "worker1")  # `mlops-hub home move` copied it there
    assert [o["Spec"]["Labels"][LABEL_HOME_NODE] for o in client.objects.values()] == ["worker1"]  # one record
    out = provision(client, prefix="p", username="alice", roles=[], image="lab:1", owner=(1000, 100),
                    index=None, storage=storage, system_roots_file=None)
    assert out.home_node == "worker1"
    assert client.volumes == {} and client.containers == []  # the volume is on worker1: none made here
    assert [m["Source"] for m in out.mounts] == [storage.mounts("p", "alice", [])[0].source]


def test_a_moved_home_with_team_folders_on_the_hubs_node_is_refused_before_anything_is_made():
    storage = storage_from_config({"backend": "local", "roles": {"team": {"team": True}}})
    client = FakeDocker()
    record_home_node(client, "p", "alice", "worker1")
    with pytest.raises(ConfigError, match=r"alice's home was moved to another node, but their team folders"):
        provision(client, prefix="p", username="alice", roles=["team"], image="lab:1", owner=(1000, 100),
                  index=None, storage=storage, system_roots_file=None)
    assert client.volumes == {} and client.containers == []
