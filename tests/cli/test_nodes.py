"""`mlops-hub nodes` and `mlops-hub nodes join-command` on this machine's real single-node swarm.

The join token is a secret: only `join-command` prints it, to stdout. The swarm is not changed, apart from a
label of the test's own on this node, removed afterwards.
"""

from __future__ import annotations

import secrets
import subprocess

from .test_bad_input import run_cli


def docker(*argv: str) -> str:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def worker_token() -> str:
    return docker("swarm", "join-token", "-q", "worker")


def test_nodes_lists_this_node_as_the_leader_with_its_labels_and_free_room():
    node_id, this = docker("node", "inspect", "self", "--format", "{{.ID}} {{.Description.Hostname}}").split()
    key = f"mlops-test-{secrets.token_hex(4)}"
    docker("node", "update", "--label-add", f"{key}=yes", node_id)  # `node update` takes no "self"
    try:
        proc = run_cli("nodes")
    finally:
        docker("node", "update", "--label-rm", key, node_id)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.split() == ["NODE", "ROLE", "AVAILABILITY", "STATE", "CPUS", "CPUS", "FREE", "MEMORY", "MEMORY",
                              "FREE", "LABELS"]
    (row,) = [r for r in rows if r.split()[0] == this]
    cells = row.split()
    assert cells[1:5] == ["manager", "(leader)", "active", "ready"]
    assert f"{key}=yes" in cells[-1]
    cpus, free_cpus = float(cells[5]), float(cells[6])
    assert 0 <= free_cpus <= cpus  # free: less what the running tasks reserve
    token = worker_token()
    assert token not in proc.stdout and token not in proc.stderr


def test_join_command_prints_the_worker_command_with_the_token_and_the_loopback_warning():
    address = docker("info", "--format", "{{.Swarm.NodeAddr}}")
    proc = run_cli("nodes", "join-command")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    token = worker_token()
    assert f"docker swarm join --token {token} {address}:2377" in proc.stdout
    assert token not in proc.stderr  # stdout only
    assert "Docker Engine" in proc.stdout and "docker node update --label-add gpu=true NODE" in proc.stdout
    loopback = address.startswith("127.") or address == "::1"
    assert ("no other machine can join" in proc.stderr) == loopback, (address, proc.stderr)
    if loopback:  # this machine's swarm is made by scripts/host-setup.sh with --advertise-addr 127.0.0.1
        assert "docker swarm init --advertise-addr" in proc.stderr


def test_nodes_rejects_an_unknown_action_in_one_line():
    proc = run_cli("nodes", "join")
    assert proc.returncode == 2 and "invalid choice: 'join'" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert proc.stdout == ""


def test_doctor_warns_about_a_label_and_a_pool_no_node_has(tmp_path):
    from .test_doctor import check_lines, doctor

    label, pool = f"mlops-test-{secrets.token_hex(4)}", f"mlops-test-{secrets.token_hex(4)}"
    platform = tmp_path / "platform.yaml"
    platform.write_text(
        "spawner:\n"
        "  environments:\n"
        f"    - {{slug: gpu, display_name: GPU, image: mlops-test-absent/lab:1, node_labels: [{label}]}}\n"
        "  role_policies:\n"
        f"    default: {{max_cpu: 0.5, max_mem: 1G, node_pool: {pool}}}\n")
    proc = doctor(tmp_path, "--platform-config", str(platform))
    assert "Traceback" not in proc.stderr, proc.stderr
    mark, fix = check_lines(proc.stdout)["nodes"]
    (line,) = [x for x in proc.stdout.splitlines() if "  nodes: " in x]
    assert mark == "WARN", proc.stdout
    assert f"No node has the label {label}=true, which environment 'GPU' requires" in line
    assert f"No node is in pool '{pool}' (label mlops-hub.pool={pool}), which role 'default' is limited to" in line
    assert "docker node update --label-add KEY=VALUE NODE" in fix
