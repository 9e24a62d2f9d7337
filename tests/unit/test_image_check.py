"""The faults that keep a site's own environment image from running as a user server (pure: the image's
Config from `docker inspect`, and whether jupyterhub-singleuser is on its PATH)."""

import pytest

from mlops_hub.policy.image_check import (
    NO_SINGLEUSER,
    ROOT,
    WRONG_PORT,
    command_port,
    image_faults,
    is_root,
    missing_singleuser,
)

# the platform's lab image, as `docker image inspect` shows its Config
LAB = {"User": "1000:100", "ExposedPorts": {"8888/tcp": {}}, "Cmd": ["jupyterhub-singleuser"],
       "Env": ["PATH=/opt/venv/bin:/usr/bin:/bin"], "WorkingDir": "/home/jovyan"}


def kinds(config, has_singleuser=True, port=8888) -> list[str]:
    return [f.kind for f in image_faults(config, has_singleuser, port)]


def test_the_lab_image_has_no_fault():
    assert image_faults(LAB, True, 8888) == []


def test_an_image_without_jupyterhub_singleuser_says_so_and_how_to_fix_it():
    (fault,) = image_faults(LAB, False, 8888)
    assert fault.kind == NO_SINGLEUSER
    assert "no jupyterhub-singleuser on its PATH" in fault.message
    assert "pip install jupyterhub" in fault.fix and "FROM the platform's lab image" in fault.fix


def test_not_knowing_whether_jupyterhub_singleuser_is_there_is_no_fault():
    assert kinds(LAB, has_singleuser=None) == []


@pytest.mark.parametrize("user", ["", "root", "0", "0:0", "root:root", "root:100", "0:users", " root "])
def test_an_image_that_runs_as_root_is_a_fault_fixed_by_user_1000_100(user):
    (fault,) = image_faults({**LAB, "User": user}, True, 8888)
    assert fault.kind == ROOT
    assert fault.message.startswith(f"runs as root ({f'USER {user}' if user else 'no USER'})")
    assert "unprivileged user" in fault.message
    assert fault.fix == "end the image's Dockerfile with USER 1000:100 (jovyan)"


@pytest.mark.parametrize("user", ["jovyan", "1000", "1000:100", "jovyan:users", "1000:0", "rooty", "10"])
def test_a_named_or_numeric_user_other_than_root_is_not_root(user):
    assert not is_root(user)
    assert kinds({**LAB, "User": user}) == []


def test_a_config_without_user_is_root():
    assert kinds({"Cmd": ["jupyterhub-singleuser"]}) == [ROOT]
    assert kinds(None) == [ROOT]


@pytest.mark.parametrize("argv, port", [
    (["jupyterhub-singleuser", "--port=9999"], 9999),
    (["jupyterhub-singleuser", "--port", "9999"], 9999),
    (["jupyterhub-singleuser", "--ServerApp.port=8000"], 8000),
    (["jupyterhub-singleuser", "--ServerApp.port", "8000"], 8000),
    (["jupyter", "notebook", "--NotebookApp.port=7777"], 7777),
    (["sh", "-c", "exec jupyterhub-singleuser --port=9999 --ip=0.0.0.0"], 9999),
    (["jupyterhub-singleuser", "--port=9999", "--port=8888"], 8888),  # the last one wins, as in Jupyter
    (["jupyterhub-singleuser"], None),
    (["jupyterhub-singleuser", "--port"], None),
    (["jupyterhub-singleuser", "--port=$PORT"], None),
    (["jupyterhub-singleuser", "--portal=1"], None),
    (["jupyterhub-singleuser", "--ServerApp.port_retries=0"], None),
])
def test_the_port_a_command_sets(argv, port):
    assert command_port(argv) == port


@pytest.mark.parametrize("flag", ["--port=9999", "--ServerApp.port=9999", "--NotebookApp.port=9999"])
def test_a_command_with_another_port_is_a_fault_naming_both_ports(flag):
    (fault,) = image_faults({**LAB, "Cmd": ["jupyterhub-singleuser", flag]}, True, 8888)
    assert fault.kind == WRONG_PORT
    assert "its command passes port 9999" in fault.message and "the hub connects on 8888" in fault.message
    assert "remove the --port flag" in fault.fix


def test_the_entrypoint_counts_as_part_of_the_command():
    config = {**LAB, "Entrypoint": ["tini", "--", "jupyterhub-singleuser", "--port", "9999"], "Cmd": []}
    assert kinds(config) == [WRONG_PORT]


def test_the_hubs_own_port_on_the_command_is_fine():
    assert kinds({**LAB, "Cmd": ["jupyterhub-singleuser", "--port=8888"]}) == []
    assert kinds({**LAB, "Cmd": ["jupyterhub-singleuser", "--port=9999"], "ExposedPorts": {"9999/tcp": {}}},
                 port=9999) == []


def test_exposing_ports_without_the_hubs_is_a_fault():
    (fault,) = image_faults({**LAB, "ExposedPorts": {"8000/tcp": {}, "9000/tcp": {}}}, True, 8888)
    assert fault.kind == WRONG_PORT
    assert "EXPOSEs 8000, 9000 but not 8888" in fault.message and fault.fix == "EXPOSE 8888 in the image's Dockerfile"


def test_exposing_nothing_or_the_hubs_port_among_others_is_fine():
    assert kinds({**LAB, "ExposedPorts": None}) == []
    assert kinds({**LAB, "ExposedPorts": {"8888/tcp": {}, "8000/tcp": {}}}) == []
    # the hub connects over TCP: 8888/udp is not its port
    assert kinds({**LAB, "ExposedPorts": {"8888/udp": {}, "8000/tcp": {}}}) == [WRONG_PORT]


def test_a_wrong_command_port_and_a_wrong_expose_are_one_fault_with_both_fixes():
    (fault,) = image_faults({**LAB, "Cmd": ["jupyterhub-singleuser", "--port=9999"],
                             "ExposedPorts": {"9999/tcp": {}}}, True, 8888)
    assert fault.kind == WRONG_PORT
    assert "passes port 9999" in fault.message and "EXPOSEs 9999 but not 8888" in fault.message
    assert "remove the --port flag" in fault.fix and "EXPOSE 8888" in fault.fix


def test_every_fault_at_once_in_a_fixed_order():
    config = {"User": "root", "Cmd": ["jupyter", "lab", "--port=9999"], "ExposedPorts": {"9999/tcp": {}}}
    faults = image_faults(config, False, 8888)
    assert [f.kind for f in faults] == [NO_SINGLEUSER, ROOT, WRONG_PORT]
    assert all(f.message and f.fix for f in faults)


@pytest.mark.parametrize("reason, tail, missing", [
    # Docker's words when the image's command is run directly
    ('starting container failed: ... exec: "jupyterhub-singleuser": executable file not found in $PATH: unknown',
     "", True),
    # the shell's, when it runs the command after exporting the hub token (the spawner's default)
    ("task: non-zero exit (127)", "mlops-hub-start: 1: exec: jupyterhub-singleuser: not found", True),
    ("task: non-zero exit (127)", "x | /bin/sh: line 1: exec: jupyterhub-singleuser: not found\n", True),
    ('starting container failed: exec: "tini": executable file not found in $PATH', "", False),
    ("task: non-zero exit (1)", "ModuleNotFoundError: No module named 'jupyterhub'", False),
    ("task: non-zero exit (127)", "sh: 1: exec: start.sh: not found", False),
])
def test_a_failed_start_that_lacks_jupyterhub_singleuser_is_told_apart(reason, tail, missing):
    assert missing_singleuser(reason, tail) is missing
