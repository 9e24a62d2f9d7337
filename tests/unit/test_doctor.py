"""`mlops-hub doctor`'s policy: each check's verdict, message and fix from given answers (no Docker)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from argparse import Namespace
from pathlib import Path

import pytest
import yaml

from mlops_hub.deploy import doctor, preflight
from mlops_hub.deploy.doctor import FAIL, GB, OK, SKIP, WARN, EnvironmentImage, Finding, Node
from mlops_hub.deploy.images import BASE_IMAGE, BASE_RECIPE, RECIPES, image_tag
from mlops_hub.deploy.stack import SECRET_NAMES, ensure_secrets
from mlops_hub.policy.image_check import NO_SINGLEUSER, ROOT, WRONG_PORT, ImageFault
from mlops_hub.policy.roles import role_policies_from_config

GiB = 1024**3
REPO = Path(__file__).resolve().parents[2]
ROLES = role_policies_from_config({
    "default": {"max_cpu": 1, "max_mem": "2G"},
    "data-scientists": {"max_cpu": 4, "max_mem": "16G"},
})


def node(name="n1", cpus=8.0, mem=32 * GiB, ready=True) -> Node:
    return Node(name, cpus, mem, ready)


def test_a_node_as_large_as_the_largest_role_passes_and_names_that_role():
    found = doctor.nodes_finding([node(cpus=4, mem=16 * GiB)], ROLES, "platform.yaml")
    assert found.status == OK and "role 'data-scientists': 4 CPUs / 16G" in found.message


@pytest.mark.parametrize(("cpus", "mem"), [(2, 64 * GiB), (16, 8 * GiB)])
def test_no_node_fits_the_largest_server_names_the_role_and_the_fix(cpus, mem):
    nodes = [node("small", 1, 4 * GiB), node("big", cpus, mem)]
    found = doctor.nodes_finding(nodes, ROLES, "/etc/platform.yaml")
    assert found.status == FAIL
    assert "role 'data-scientists' allows servers of up to 4 CPUs / 16G" in found.message
    assert "can never start" in found.message and "role 'default'" not in found.message
    assert "lower max_cpu/max_mem of role 'data-scientists' in /etc/platform.yaml" in found.fix


def test_cpu_and_memory_must_be_on_the_same_node():
    # one node has the CPUs, another the memory: no single server of 4 CPUs / 16G fits
    found = doctor.nodes_finding([node("cpu", 8, 8 * GiB), node("mem", 2, 64 * GiB)], ROLES, "p.yaml")
    assert found.status == FAIL


def test_a_drained_or_down_node_does_not_count():
    found = doctor.nodes_finding([node("gone", ready=False), node("tiny", 1, 2 * GiB)], ROLES, "p.yaml")
    assert found.status == FAIL and "(largest: tiny, 1 CPU / 2G)" in found.message
    none_ready = doctor.nodes_finding([node(ready=False)], ROLES, "p.yaml")
    assert none_ready.status == FAIL and "docker node update --availability active" in none_ready.fix


def test_node_sizes_come_from_node_inspect():
    raw = {"ID": "abc", "Description": {"Hostname": "vm", "Resources": {"NanoCPUs": 2_000_000_000,
                                                                       "MemoryBytes": 24 * GiB}},
           "Status": {"State": "ready"}, "Spec": {"Availability": "drain"}}
    assert doctor.node_from_inspect(raw) == Node("vm", 2.0, 24 * GiB, ready=False, state="ready",
                                                 availability="drain")
    raw["Spec"]["Availability"] = "active"
    assert doctor.node_from_inspect(raw).ready


@pytest.mark.parametrize(("free", "status"), [
    (4.9 * GB, FAIL), (5 * GB, WARN), (14.9 * GB, WARN), (15 * GB, OK), (None, WARN)])
def test_disk_thresholds(free, status):
    found = doctor.disk_finding("Docker's images and volumes", "/var/lib/docker",
                                None if free is None else int(free))
    assert found.status == status
    if status == FAIL:
        assert "docker system prune" in found.fix and "needs about 5 GB" in found.message
    if status != OK:
        assert found.fix


@pytest.mark.parametrize(("skew", "status"), [(0, OK), (4.9, OK), (-4.9, OK), (5.1, WARN), (-30, WARN)])
def test_clock_skew_over_five_seconds_warns(skew, status):
    host = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)
    found = doctor.clock_finding(host + dt.timedelta(seconds=skew), host)
    assert found.status == status
    if status == WARN:
        assert ("behind" if skew < 0 else "ahead of") in found.message and "chrony" in found.fix


def test_docker_times_with_nanoseconds_and_offsets_parse():
    utc = doctor.parse_docker_time("2026-12-02T12:15:44.976757508Z")
    assert utc == dt.datetime(2026, 12, 2, 12, 15, 44, 976757, tzinfo=dt.timezone.utc)
    assert doctor.parse_docker_time("2026-12-02T13:15:44+01:00") == utc.replace(microsecond=0)
    assert doctor.parse_docker_time("") is None and doctor.parse_docker_time("yesterday") is None
    assert doctor.clock_finding(None, utc).status == WARN


def copy_recipe_inputs(target: Path) -> Path:
    for recipe in (BASE_RECIPE, *RECIPES.values()):
        for rel in recipe.inputs:
            source = REPO / rel
            if source.is_dir():
                shutil.copytree(source, target / rel, dirs_exist_ok=True)
            elif source.is_file():
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target / rel)
    return target


def test_expected_tags_are_the_build_tags_and_follow_the_inputs(tmp_path):
    repo = copy_recipe_inputs(tmp_path / "repo")
    ids = {BASE_IMAGE: "sha256:debian"}
    # without debian there is no base to hash from; without base, none of the others
    assert doctor.expected_image_tags(repo, lambda ref: None) == {"debian": BASE_IMAGE}
    base_tag = image_tag(repo, BASE_RECIPE, "sha256:debian")
    assert doctor.expected_image_tags(repo, ids.get) == {"base": base_tag}
    ids[base_tag] = "sha256:base"
    tags = doctor.expected_image_tags(repo, ids.get)
    assert tags["base"] == base_tag and set(tags) == {"base", *RECIPES}
    assert tags["hub"] == image_tag(repo, RECIPES["hub"], "sha256:base") and tags["hub"].startswith("mlops-hub/hub:")
    (repo / "images/edge/Dockerfile").write_text("# changed\n")
    changed = doctor.expected_image_tags(repo, ids.get)
    assert changed["edge"] != tags["edge"] and changed["hub"] == tags["hub"]


def test_missing_images_warn_with_build():
    tags = {"base": "mlops-hub/base:1", "hub": "mlops-hub/hub:2"}
    found = doctor.images_finding(tags, {"mlops-hub/base:1"})
    assert found.status == WARN and "mlops-hub/hub:2" in found.message and found.fix == "mlops-hub build"
    assert doctor.images_finding(tags, set(tags.values())).status == OK
    assert doctor.images_finding({"debian": BASE_IMAGE}, set()).fix == "mlops-hub build"


def test_secrets_first_run_warns_and_up_fixes_it(tmp_path):
    found = doctor.check_secrets(tmp_path / "s" / "secrets", "mlops-hub up --stack s")
    assert found.status == WARN and "first run" in found.message and found.fix == "mlops-hub up --stack s"


def test_secrets_with_their_modes_pass_and_loose_modes_fail(tmp_path):
    directory = tmp_path / "secrets"
    ensure_secrets(directory)
    assert doctor.check_secrets(directory, "up").status == OK
    (directory / "api_token").chmod(0o644)
    found = doctor.check_secrets(directory, "up")
    assert found.status == FAIL and "api_token" in found.message
    assert found.fix == f"chmod 700 {directory} && chmod 600 {directory}/*"
    (directory / "api_token").chmod(0o600)
    directory.chmod(0o755)
    assert doctor.check_secrets(directory, "up").status == FAIL
    directory.chmod(0o700)
    (directory / SECRET_NAMES[-1]).unlink()
    missing = doctor.check_secrets(directory, "up")
    assert missing.status == WARN and SECRET_NAMES[-1] in missing.message


@pytest.mark.parametrize(("version", "status"), [("20.10.24+dfsg1", OK), ("28.2.2", OK), ("19.03.12", WARN)])
def test_docker_version(version, status):
    assert doctor.daemon_finding(version, "unix:///var/run/docker.sock").status == status


def test_a_daemon_that_does_not_answer_fails_with_how_to_start_it():
    local = doctor.daemon_finding(None, "unix:///var/run/docker.sock")
    assert local.status == FAIL and local.fix.startswith("dockerd &")
    other_socket = doctor.daemon_finding(None, "unix:///run/user/1000/docker.sock")
    assert other_socket.fix.startswith("dockerd --host unix:///run/user/1000/docker.sock &")
    remote = doctor.daemon_finding(None, "tcp://10.0.0.9:2375")
    assert "unset DOCKER_HOST" in remote.fix and "tcp://10.0.0.9:2375" in remote.message


@pytest.mark.parametrize(("state", "manager", "fix"), [
    ("inactive", False, "docker swarm init --advertise-addr 127.0.0.1"),
    (None, False, "docker swarm init"),
    ("active", False, "docker node promote")])
def test_swarm_must_be_active_and_this_node_a_manager(state, manager, fix):
    found = doctor.swarm_finding(state, manager)
    assert found.status == FAIL and fix in found.fix
    assert doctor.swarm_finding("active", True).status == OK


def test_ports_in_use_fail_unless_this_stack_holds_them():
    ports = (("--https-port", 443), ("--http-port", 80))
    taken = doctor.ports_finding(ports, {443: "in use", 80: "free"}, ours=())
    assert taken.status == FAIL and taken.message == "ports: --https-port: port 443 is already in use on this host"
    assert "mlops-hub up --https-port N" in taken.fix
    assert doctor.ports_finding(ports, {443: "in use", 80: "in use"}, ours={443, 80}).status == OK
    denied = doctor.ports_finding(ports, {80: "cannot be checked (Permission denied)"}, ours=())
    assert denied.status == FAIL and "root" in denied.fix


def test_probe_verdicts():
    assert doctor.probe_finding(OK).status == OK
    assert doctor.probe_finding("no image").fix == "mlops-hub build"
    failed = doctor.probe_finding(FAIL, "the probe client did not reach x")
    assert failed.status == FAIL and "docker swarm init" in failed.fix


def test_report_marks_fixes_and_exit_code():
    text, code = doctor.report([Finding("a", OK, "a: fine", None), Finding("b", WARN, "b: meh", "do b"),
                                Finding("c", SKIP, "c: not checked (no daemon)")])
    assert code == 0
    assert text.splitlines() == ["ok    a: fine", "WARN  b: meh", "      fix: do b", "skip  c: not checked (no daemon)",
                                 "doctor: 1 ok, 1 warning(s), 0 failure(s), 1 not checked"]
    text, code = doctor.report([Finding("d", FAIL, "d: broken", "fix d")])
    assert code == 1 and "FAIL  d: broken\n      fix: fix d\n" in text and "fix the FAIL lines" in text


def test_up_refuses_on_a_failed_check_and_only_warns_on_a_warning(capsys):
    with pytest.raises(preflight.PreflightError, match="^x: broken; fix: run y$"):
        preflight.require(Finding("x", FAIL, "x: broken", "run y"))
    preflight.require(Finding("x", WARN, "x: meh", "run z"))
    assert capsys.readouterr().err == "mlops-hub: warning: x: meh; fix: run z\n"


def test_up_runs_doctor_s_checks_that_apply_before_building():
    up = preflight.STEPS["up"]
    for step in (preflight.check_swarm, preflight.check_nodes, preflight.check_disk):
        assert up.index(preflight.check_daemon) < up.index(step) < up.index(preflight.check_ports_free)
    assert preflight.STEPS["doctor"] == (preflight.check_stack_name, preflight.check_port_range,
                                         preflight.check_platform_config, preflight.check_platform_settings)


def test_up_disk_check_uses_the_state_dir(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(doctor, "docker_info", lambda: {"DockerRootDir": str(tmp_path)})
    monkeypatch.setattr(doctor, "free_bytes", lambda path: seen.append(path) or 1 * GB)
    with pytest.raises(preflight.PreflightError, match="only 1.0 GB free"):
        preflight.check_disk(Namespace(state_dir=str(tmp_path / "state")))
    assert seen[0] == tmp_path


def test_nodes_check_without_a_manager_s_answer_fails_with_swarm_init(monkeypatch):
    answers = {("node", "ls", "-q"): "n1\n", ("node", "inspect", "n1"): "not json"}
    monkeypatch.setattr(doctor, "docker", lambda *argv: subprocess.CompletedProcess(argv, 0, answers[argv], ""))
    assert doctor.node_sizes() is None
    found = doctor.check_nodes(REPO / "config" / "platform.yaml")
    assert found.status == FAIL and found.fix == "docker swarm init --advertise-addr 127.0.0.1"


def test_no_free_room_for_a_role_s_reservation_warns_naming_the_role_and_node():
    busy = Node("vm", 8, 32 * GiB, True, free_cpus=0.5, free_mem=1 * GiB)
    reserves = {"default": (0.1, 512 * 1024**2), "data-scientists": (0.4, 4 * GiB)}
    found = doctor.nodes_finding([busy], ROLES, "p.yaml", reserves)
    assert found.status == WARN and "role 'data-scientists'" in found.message and "0.4 CPUs / 4G" in found.message
    assert "most free: vm, 0.5 CPUs / 1G" in found.message and found.fix.startswith("docker node ps vm")
    roomy = Node("vm2", 8, 32 * GiB, True, free_cpus=4, free_mem=8 * GiB)
    found = doctor.nodes_finding([busy, roomy], ROLES, "p.yaml", reserves)
    assert found.status == OK and "most free: vm2, 4 CPUs / 8G" in found.message


def test_free_room_is_capacity_minus_reservations_and_reserves_follow_the_spawner(tmp_path):
    raw = {"ID": "x", "Description": {"Hostname": "vm", "Resources": {"NanoCPUs": 2_000_000_000,
                                                                      "MemoryBytes": 8 * GiB}},
           "Status": {"State": "ready"}, "Spec": {"Availability": "active"}}
    assert doctor.node_from_inspect(raw, 0.5, 3 * GiB) == Node("vm", 2.0, 8 * GiB, True, 1.5, 5 * GiB, "ready",
                                                               "active")
    roles, reserves = doctor.roles_of(REPO / "config" / "platform.yaml")  # fractions 0.1 and 0.25
    assert reserves["data-scientists"] == (pytest.approx(0.2), 2 * GiB) and set(roles) == set(reserves)
    absolute = tmp_path / "platform.yaml"
    absolute.write_text("spawner:\n  mem_guarantee: 1G\n  role_policies:\n    r: {max_cpu: 2, max_mem: 4G}\n")
    assert doctor.roles_of(absolute)[1] == {"r": (0.0, 1 * GiB)}


# ---- environments: can each environment's image run as a user server?

ROOT_FAULT = ImageFault(ROOT, "runs as root (USER root): ...", "end the image's Dockerfile with USER 1000:100 (jovyan)")
PORT_FAULT = ImageFault(WRONG_PORT, "wrong port: its command passes port 9999, ...", "remove the --port flag ...")


def test_environments_whose_images_are_sound_pass():
    found = doctor.environments_finding([EnvironmentImage("python", "lab:1"), EnvironmentImage("r", "r:1")], "p.yaml")
    assert found.status == OK
    assert found.message.startswith("environments: every environment's image can run as a user server (2 checked")


def test_every_faulty_environment_is_named_with_its_image_faults_and_fixes():
    found = doctor.environments_finding([
        EnvironmentImage("python", "lab:1"),
        EnvironmentImage("custom", "site/custom:1", faults=(ROOT_FAULT, PORT_FAULT)),
        EnvironmentImage("bare", "site/bare:2", faults=(ImageFault(NO_SINGLEUSER, "no jupyterhub-singleuser", "x"),)),
    ], "p.yaml")
    assert found.status == FAIL
    assert found.message.startswith("environments: 2 of 3 images in p.yaml cannot run as user servers: ")
    assert "'custom' (site/custom:1) [root]: runs as root" in found.message
    assert "'custom' (site/custom:1) [wrong-port]: wrong port: its command passes port 9999" in found.message
    assert "'bare' (site/bare:2) [no-singleuser]: no jupyterhub-singleuser" in found.message
    assert "'python'" not in found.message
    assert found.fix == ("'custom': end the image's Dockerfile with USER 1000:100 (jovyan);"
                         " 'custom': remove the --port flag ...; 'bare': x")
    assert "\n" not in found.message + found.fix  # one line per check, as every other


def test_an_image_not_on_this_node_warns_with_build_or_pull():
    found = doctor.environments_finding([EnvironmentImage("python", "lab:1"),
                                         EnvironmentImage("r", "site/r:1", present=False)], "p.yaml")
    assert found.status == WARN
    assert found.message == "environments: 'r' (site/r:1): not on this node, not checked"
    assert found.fix.startswith("mlops-hub build") and "docker pull" in found.fix


def test_a_missing_image_is_still_named_beside_a_faulty_one():
    found = doctor.environments_finding([EnvironmentImage("custom", "c:1", faults=(ROOT_FAULT,)),
                                         EnvironmentImage("r", "site/r:1", present=False)], "p.yaml")
    assert found.status == FAIL and "'r' (site/r:1): not on this node" in found.message


def test_an_image_that_could_not_be_asked_warns_with_docker_s_words():
    found = doctor.environments_finding([EnvironmentImage("tiny", "scratch:1", unchecked='exec: "sh": not found')],
                                        "p.yaml")
    assert found.status == WARN and 'could not look for jupyterhub-singleuser (exec: "sh": not found)' in found.message


def test_no_environment_is_ok():
    assert doctor.environments_finding([], "p.yaml").status == OK


def fake_docker(monkeypatch, configs: dict, on_path: dict) -> list[tuple]:
    """`docker image inspect` answers `configs[image]` (absent: no such image); `docker run` exits 0 or 3
    by `on_path[image]`, or 125 when the image has no shell (None)."""
    calls = []

    def answer(*argv, timeout=None):
        calls.append(argv)
        if argv[:2] == ("image", "inspect"):
            image = argv[-1]
            if image not in configs:
                return subprocess.CompletedProcess(argv, 1, "", f"Error: No such image: {image}")
            return subprocess.CompletedProcess(argv, 0, json.dumps(configs[image]), "")
        image = argv[argv.index("--entrypoint") + 2]
        code = {True: 0, False: 3, None: 127}[on_path[image]]
        out = "/opt/venv/bin/jupyterhub-singleuser\n" if code == 0 else ""
        err = 'docker: Error response from daemon: exec: "sh": executable file not found' if code == 127 else ""
        return subprocess.CompletedProcess(argv, code, out, err)

    monkeypatch.setattr(doctor, "docker", answer)
    return calls


def test_the_check_inspects_every_environment_as_the_spawner_runs_it(monkeypatch, tmp_path):
    platform = tmp_path / "platform.yaml"
    platform.write_text(yaml.safe_dump({"spawner": {"environments": [
        {"slug": "python", "image": "lab:1", "default": True},
        {"slug": "rooted", "image": "site/root:1"},
        {"slug": "gone", "image": "site/gone:1"},
        {"slug": "noshell", "image": "site/noshell:1"},
    ]}}))
    lab = {"User": "1000:100", "Cmd": ["jupyterhub-singleuser"], "ExposedPorts": {"8888/tcp": {}}}
    calls = fake_docker(monkeypatch, {"lab:1": lab, "site/root:1": {**lab, "User": ""}, "site/noshell:1": lab},
                        {"lab:1": True, "site/root:1": False, "site/noshell:1": None})
    found = doctor.check_environments(platform)
    assert found.status == FAIL
    assert "'rooted' (site/root:1) [no-singleuser]" in found.message
    assert "'rooted' (site/root:1) [root]" in found.message
    assert "'gone' (site/gone:1): not on this node" in found.message
    assert "'noshell' (site/noshell:1): could not look for jupyterhub-singleuser (docker: Error" in found.message
    assert "'python'" not in found.message
    runs = {argv[argv.index("--entrypoint") + 2]: argv for argv in calls if argv[0] == "run"}
    assert set(runs) == {"lab:1", "site/root:1", "site/noshell:1"}
    # no network; a root image is looked into as the user the spawner runs it as
    assert runs["lab:1"][:6] == ("run", "--rm", "--network", "none", "--user", "1000:100")
    assert runs["site/root:1"][runs["site/root:1"].index("--user") + 1] == "1000:100"
    assert runs["lab:1"][-2:] == ("-c", "command -v jupyterhub-singleuser || exit 3")


@pytest.mark.parametrize("run_as_user, image_user, runs_as", [
    (None, "jovyan", "jovyan"), (None, "", "1000:100"), (None, "root", "1000:100"),
    ("1234:100", "root", "1234:100"), ("", "root", "root"), ("", "", "0"),
])
def test_the_image_is_looked_into_as_the_user_the_spawner_runs_it_as(monkeypatch, tmp_path, run_as_user, image_user,
                                                                     runs_as):
    platform = tmp_path / "platform.yaml"
    settings = {"environments": [{"slug": "python", "image": "lab:1"}]}
    if run_as_user is not None:
        settings["run_as_user"] = run_as_user
    platform.write_text(yaml.safe_dump({"spawner": settings}))
    calls = fake_docker(monkeypatch, {"lab:1": {"User": image_user, "Cmd": ["jupyterhub-singleuser"]}},
                        {"lab:1": True})
    doctor.check_environments(platform)
    (run,) = [argv for argv in calls if argv[0] == "run"]
    assert run[run.index("--user") + 1] == runs_as


def test_the_check_uses_the_spawners_port_and_cmd_from_platform_yaml(monkeypatch, tmp_path):
    platform = tmp_path / "platform.yaml"
    env = {"slug": "python", "image": "lab:1"}
    lab = {"User": "jovyan", "Cmd": ["jupyterhub-singleuser", "--port=9000"], "ExposedPorts": {"9000/tcp": {}}}
    fake_docker(monkeypatch, {"lab:1": lab}, {"lab:1": True})
    platform.write_text(yaml.safe_dump({"spawner": {"environments": [env]}}))
    assert doctor.check_environments(platform).status == FAIL  # 9000 is not dockerspawner's 8888
    platform.write_text(yaml.safe_dump({"spawner": {"environments": [env], "port": 9000}}))
    assert doctor.check_environments(platform).status == OK
    # the spawner's cmd replaces the image's CMD, so its --port is what counts
    platform.write_text(yaml.safe_dump({"spawner": {"environments": [env], "port": 9000,
                                                    "cmd": ["jupyterhub-singleuser", "--port=9001"]}}))
    found = doctor.check_environments(platform)
    assert found.status == FAIL and "passes port 9001" in found.message
    platform.write_text(yaml.safe_dump({"spawner": {"environments": [env], "port": 9000,
                                                    "cmd": "jupyterhub-singleuser --port=9002"}}))
    found = doctor.check_environments(platform)
    assert found.status == FAIL and "passes port 9002" in found.message


def test_doctor_runs_the_environments_check_and_skips_it_without_a_daemon(monkeypatch, tmp_path):
    checked = []
    environments = Finding("environments", FAIL, "environments: 1 of 1 images ...", "fix it")
    monkeypatch.setattr(doctor, "check_environments", lambda platform: checked.append(platform) or environments)
    for name in ("check_images", "check_clock", "check_nodes"):
        monkeypatch.setattr(doctor, name, lambda *args, name=name: Finding(name, OK, f"{name}: fine"))
    monkeypatch.setattr(doctor, "check_docker", lambda: Finding("docker", OK, "docker: fine"))
    monkeypatch.setattr(doctor, "docker_info", lambda: {})
    monkeypatch.setattr(doctor, "check_swarm", lambda info: Finding("swarm", OK, "swarm: fine"))
    monkeypatch.setattr(doctor, "check_ports", lambda stack, ports: Finding("ports", OK, "ports: fine"))
    monkeypatch.setattr(doctor, "check_disks", lambda state_dir, info: [])
    options = doctor.DoctorOptions(repo=REPO, stack="s", state_dir=tmp_path, platform=tmp_path / "p.yaml",
                                   ports=(), probe=False)
    findings = doctor.run_doctor(options, print)
    assert environments in findings and checked == [tmp_path / "p.yaml"]
    assert doctor.report(findings)[1] == 1  # a faulty environment fails doctor
    monkeypatch.setattr(doctor, "check_docker", lambda: Finding("docker", FAIL, "docker: no daemon", "dockerd &"))
    findings = doctor.run_doctor(options, print)
    assert Finding("environments", SKIP, "environments: not checked (no daemon)") in findings
    assert checked == [tmp_path / "p.yaml"]


# ---- every node checked: down or drained nodes, labels no node has ----------------------------

def test_a_down_or_drained_node_is_a_warning_naming_it():
    nodes = [Node("m1", 8, 32 * GiB, True, state="ready", availability="active"),
             Node("w1", 8, 32 * GiB, False, state="down", availability="active"),
             Node("w2", 8, 32 * GiB, False, state="ready", availability="drain")]
    problems = doctor.node_state_problems(nodes)
    assert problems == ["node 'w1' takes no tasks (state down)", "node 'w2' takes no tasks (availability drain)"]
    found = doctor.with_node_warnings(doctor.nodes_finding(nodes, ROLES, "p.yaml"), problems, "p.yaml")
    assert found.status == WARN and "node 'w1' takes no tasks (state down)" in found.message
    assert "node 'w2'" in found.message and "docker node update --availability active NODE" in found.fix


def test_labels_no_ready_node_has_warn_naming_the_environment_and_label():
    from mlops_hub.policy.placement import requirements
    needs = {"environment gpu": requirements("GPU", (("gpu", "true"),), None, None),
             "role etl": requirements("", (), "etl", "etl"),
             "environment ssd": requirements("SSD", (("ssd", "true"),), None, None)}
    nodes = [Node("m1", 8, 32 * GiB, True, labels=(("ssd", "true"),)),
             Node("w1", 8, 32 * GiB, False, state="down", labels=(("gpu", "true"),))]  # down: does not count
    problems = doctor.placement_problems(needs, nodes)
    assert problems == ["No node has the label gpu=true, which environment 'GPU' requires.",
                        "No node is in pool 'etl' (label mlops-hub.pool=etl), which role 'etl' is limited to."]
    found = doctor.with_node_warnings(doctor.nodes_finding(nodes[:1], ROLES, "p.yaml"), problems, "p.yaml")
    assert found.status == WARN and found.message.startswith("nodes: No node has the label gpu=true")
    assert "docker node update --label-add KEY=VALUE NODE" in found.fix and "p.yaml" in found.fix


def test_node_warnings_keep_a_failure_a_failure_and_join_an_earlier_warning():
    failed = Finding("nodes", FAIL, "nodes: too small", "lower max_mem")
    found = doctor.with_node_warnings(failed, ["node 'w1' takes no tasks (state down)"], "p.yaml")
    assert found.status == FAIL and found.fix == "lower max_mem" and "also: node 'w1'" in found.message
    warned = Finding("nodes", WARN, "nodes: no room now", "docker node ps vm")
    found = doctor.with_node_warnings(warned, ["node 'w1' takes no tasks (state down)"], "p.yaml")
    assert found.status == WARN and found.message == "nodes: no room now; node 'w1' takes no tasks (state down)"
    assert found.fix.startswith("docker node ps vm; docker node ls")
    ok = Finding("nodes", OK, "nodes: fine")
    assert doctor.with_node_warnings(ok, [], "p.yaml") == ok


def test_the_nodes_check_reads_labels_and_what_platform_yaml_needs(tmp_path, monkeypatch):
    platform = tmp_path / "platform.yaml"
    platform.write_text(yaml.safe_dump({"spawner": {
        "environments": [{"slug": "gpu", "display_name": "GPU", "image": "x:1", "node_labels": ["gpu"]}],
        "role_policies": {"etl": {"max_cpu": 1, "max_mem": "1G", "node_pool": "etl"}}}}))
    assert {k: [n.constraint for n in v] for k, v in doctor.placement_needs(platform).items()} == {
        "environment gpu": ["node.labels.gpu == true"], "role etl": ["node.labels.mlops-hub.pool == etl"]}
    raw = {"ID": "n1", "Description": {"Hostname": "vm", "Resources": {"NanoCPUs": 2_000_000_000,
                                                                      "MemoryBytes": 8 * GiB}},
           "Status": {"State": "ready"}, "Spec": {"Availability": "active", "Labels": {"mlops-hub.pool": "etl"}}}
    monkeypatch.setattr(doctor, "node_sizes", lambda: [doctor.node_from_inspect(raw, 0, 0)])
    found = doctor.check_nodes(platform)
    assert found.status == WARN and "No node has the label gpu=true, which environment 'GPU' requires" in found.message
    assert "pool" not in found.message


# ---- the containers' CPU weight together (cgroup v1 without systemd) ---------------------------------

def test_the_containers_weighing_as_one_host_process_is_a_warning_with_the_set_up_command():
    found = doctor.cpu_weight_finding(True, "cgroupfs", "1", 1024)
    assert found.status == WARN and "weigh on the CPU as 1 host process" in found.message
    assert "cpu.shares: 1024" in found.message and found.fix.startswith("bash scripts/host-setup.sh")
    assert doctor.cpu_weight_finding(True, "cgroupfs", "1", 8192) == Finding(
        "CPU weight", OK, "CPU weight: the containers together weigh as 8 host processes"
                          " (/sys/fs/cgroup/cpu/docker/cpu.shares: 8192)")
    assert doctor.cpu_weight_finding(True, "cgroupfs", "1", None).status == WARN


def test_the_cpu_weight_is_not_read_where_it_cannot_or_need_not_be():
    assert doctor.cpu_weight_finding(True, "systemd", "2", None).status == OK  # a scope per container
    assert doctor.cpu_weight_finding(False, "cgroupfs", "1", None).status == SKIP  # another host's file
    found = doctor.cpu_weight_finding(True, "cgroupfs", "2", None)
    assert found.status == SKIP and "cgroup v2" in found.message


def test_the_cpu_weight_check_reads_the_docker_cgroups_shares(monkeypatch, tmp_path):
    shares = tmp_path / "cpu.shares"
    shares.write_text("1024\n")
    monkeypatch.setattr(doctor, "DOCKER_CGROUP_SHARES_FILE", shares)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    info = {"CgroupDriver": "cgroupfs", "CgroupVersion": "1"}
    assert doctor.check_cpu_weight(info).status == WARN
    shares.write_text("8192\n")
    assert doctor.check_cpu_weight(info).status == OK
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")
    assert doctor.check_cpu_weight(info).status == SKIP
