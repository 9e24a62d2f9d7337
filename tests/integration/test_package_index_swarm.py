"""Package index injection on the real swarm: a real PEP 503 index (pypiserver, basic auth, TLS with
a certificate from a test "corporate" CA) as a Swarm service serving a wheel built here; servers
install from it with pip and uv through the injected files, trusting it through the injected CA."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import docker
import pytest
from docker.types import ConfigReference, EndpointSpec, RestartPolicy, SecretReference, TaskTemplate
from docker.types import ContainerSpec as DockerContainerSpec

from mlops_hub.deploy.images import build_test_image
from mlops_hub.deploy.stack import wait_for_hub
from tests.support.wheels import MARK, PROBE, build_wheel

from .own_stack import REPO, deploy_stack, hub_logs, remove_stack, run_in, server_container, service_of, stack_settings

STACK = f"{os.environ.get('MLOPS_TEST_STACK', 'mlopstest')}-pk"
PYPI = f"{STACK}-pypi"  # also its host name on the stack's overlay network
INDEX = f"https://{PYPI}:8443"
INDEX_USER = "ix3-reader"


def htpasswd_line(user: str, password: str) -> bytes:
    hashed = subprocess.run(["openssl", "passwd", "-apr1", password], check=True, capture_output=True, text=True)
    return f"{user}:{hashed.stdout.strip()}\n".encode()


def make_test_ca(directory: Path) -> bytes:
    key, cert = directory / "ca.key", directory / "ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mlops-hub test corporate CA", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert.read_bytes()


def make_server_cert(directory: Path, host: str) -> tuple[bytes, bytes]:
    """(certificate, key) for `host`, signed by make_test_ca's CA in the same directory."""
    key, csr, cert, ext = (directory / f"server.{n}" for n in ("key", "csr", "pem", "ext"))
    ext.write_text(f"subjectAltName=DNS:{host}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}",
                    "-keyout", str(key), "-out", str(csr)], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(directory / "ca.pem"),
                    "-CAkey", str(directory / "ca.key"), "-CAcreateserial", "-days", "2",
                    "-extfile", str(ext), "-out", str(cert)], check=True, capture_output=True)
    return cert.read_bytes(), key.read_bytes()


def spawner_settings(lab_image: str) -> dict:
    limits = {"max_cpu": 1, "max_mem": "1G", "max_servers": 1}
    return {
        "environments": [{"slug": "python", "display_name": "Python", "image": lab_image, "default": True}],
        "role_policies": {"pk-users": limits, "pk-team-b": limits, "pk-offline": limits},
        "package_index": {
            # no trusted_hosts: the server's certificate is checked against the injected CA
            "index_url": f"{INDEX}/simple/",
            "username": INDEX_USER,
            "password_file": "/run/secrets/index_password",
            "ca_bundle_file": "/etc/mlops-hub/corp-ca.pem",
            "conda": {"channel_alias": f"{INDEX}/conda", "channels": ["main"]},
            "roles": {
                "pk-offline": None,
                # a team with an extra repo: its own pip.conf, the same .netrc
                "pk-team-b": {"extra_index_urls": [f"{INDEX}/team-b/"]},
            },
        },
    }


@pytest.fixture(scope="module")
def docker_client() -> docker.APIClient:
    return docker.APIClient()


@pytest.fixture(scope="module")
def index(images, tmp_path_factory, docker_client):
    """The stack with package_index configured, plus the pypiserver service; yields (hub, password, CA)."""
    state = tmp_path_factory.mktemp("pk-state")
    settings = stack_settings(STACK, images, spawner_settings(images["lab-base"]), state)
    password = "pw-" + secrets.token_urlsafe(24)
    ca = make_test_ca(state)
    client = docker_client
    _remove_pypi(client)
    hub = deploy_stack(settings)
    _remove_spawner_objects(client, settings.prefix)  # leftovers of a killed run
    try:
        pypi_image = build_test_image(REPO, "pypiserver")
        name, wheel = build_wheel()
        labels = {"com.docker.stack.namespace": STACK}
        # `{stack}_` names: the stack's own removal cleans these up too
        htpasswd = client.create_secret(f"{STACK}_pypi_htpasswd", htpasswd_line(INDEX_USER, password), labels=labels)
        package = client.create_config(f"{STACK}_pypi_wheel", wheel, labels=labels)
        cert, key = make_server_cert(state, PYPI)
        tls_cert = client.create_config(f"{STACK}_pypi_tls_cert", cert, labels=labels)
        tls_key = client.create_secret(f"{STACK}_pypi_tls_key", key, labels=labels)
        client.create_service(
            TaskTemplate(
                DockerContainerSpec(
                    pypi_image, None,
                    secrets=[SecretReference(htpasswd["ID"], f"{STACK}_pypi_htpasswd", filename="htpasswd",
                                             uid="1000", gid="0", mode=0o400),
                             SecretReference(tls_key["ID"], f"{STACK}_pypi_tls_key", filename="tls.key",
                                             uid="1000", gid="0", mode=0o400)],
                    configs=[ConfigReference(package["ID"], f"{STACK}_pypi_wheel",
                                             filename=f"/data/packages/{name}", uid="1000", gid="0", mode=0o444),
                             ConfigReference(tls_cert["ID"], f"{STACK}_pypi_tls_cert",
                                             filename="/etc/pypi/tls.pem", uid="1000", gid="0", mode=0o444)],
                ),
                networks=[settings.network], restart_policy=RestartPolicy("none"),
            ),
            name=PYPI, endpoint_spec=EndpointSpec(mode="dnsrr"), labels=labels,
        )
        # the hub reads the password and the CA from files: deliver them as a Swarm secret / config
        client.create_secret(f"{STACK}_index_password", password.encode(), labels=labels)
        client.create_config(f"{STACK}_corp_ca", ca, labels=labels)
        subprocess.run(["docker", "service", "update", "--detach=false", "--quiet",
                        "--secret-add", f"source={STACK}_index_password,target=index_password,mode=0400",
                        "--config-add", f"source={STACK}_corp_ca,target=/etc/mlops-hub/corp-ca.pem,mode=0444",
                        f"{STACK}_hub"], check=True, capture_output=True)
        wait_for_hub(settings)
        yield hub, password, ca
    finally:
        _remove_pypi(client)
        remove_stack(settings)  # user servers first: they hold the configs and secrets below
        _remove_spawner_objects(client, settings.prefix)


def _remove_pypi(client: docker.APIClient) -> None:
    for service in client.services(filters={"name": PYPI}):
        if service["Spec"]["Name"] == PYPI:
            client.remove_service(service["ID"])


def _remove_spawner_objects(client: docker.APIClient, prefix: str) -> None:
    selector = {"label": f"mlops-hub.prefix={prefix}"}
    for obj in client.configs(filters=selector):
        client.remove_config(obj["ID"])
    for obj in client.secrets(filters=selector):
        client.remove_secret(obj["ID"])


@pytest.fixture
def spawn(index):
    """spawn(user, groups) -> service name; every server a test started is stopped afterwards."""
    hub = index[0]
    started: list[str] = []

    def _spawn(user: str, groups: list[str]) -> str:
        hub.create_user(user, groups)
        started.append(user)
        r = hub.spawn(user, {"environment": "python"})
        assert r.status_code in (201, 202), r.text
        hub.wait_ready(user)
        return service_of(hub, user)["Spec"]["Name"]

    yield _spawn
    for user in started:
        if hub.server_model(user) is not None:
            hub.stop(user)


def _wait_for_index(client, container: str, verify: bool = True) -> None:
    """pypiserver answers (401 without credentials) before the pip tests use it. Verified, Python's
    ssl must trust it through SSL_CERT_FILE, the injected bundle: a certificate error fails here."""
    context = "ssl.create_default_context()" if verify else "ssl._create_unverified_context()"
    probe = ("import ssl, time, urllib.request, urllib.error\n"
             "for _ in range(120):\n"
             "    try:\n"
             f"        urllib.request.urlopen('{INDEX}/simple/', timeout=2, context={context})\n"
             "    except urllib.error.HTTPError:\n"
             "        raise SystemExit(0)\n"
             "    except urllib.error.URLError as e:\n"
             "        if isinstance(e.reason, ssl.SSLError):\n"
             "            raise SystemExit(f'TLS: {e.reason}')\n"
             "        time.sleep(0.5)\n"
             "    except OSError:\n"
             "        time.sleep(0.5)\n"
             "    else:\n"
             "        raise SystemExit(0)\n"
             "raise SystemExit('no answer')\n")
    code, out = run_in(client, container, ["python3", "-c", probe])
    assert code == 0, f"the test index at {PYPI} never answered: {out}"


PIP = ["pip", "install", "--no-input", "--no-cache-dir", "--disable-pip-version-check"]


def test_pip_install_through_injected_index_and_secret_file_owned_by_user(index, user_name, docker_client, spawn):
    hub, password, _ = index
    service = spawn(user_name, ["pk-users"])
    container = server_container(docker_client, service)
    _wait_for_index(docker_client, container)

    code, out = run_in(docker_client, container, [*PIP, "mlops-ix3-probe==0.1"])
    assert code == 0, out
    code, out = run_in(docker_client, container, ["python3", "-c", f"import {PROBE}; print({PROBE}.MARK)"])
    assert (code, out.strip()) == (0, MARK)

    # the credentials are what let pip in: without the .netrc the index refuses
    code, out = run_in(docker_client, container, ["pip", "download", "--no-input", "--no-deps", "-d", "/tmp/dl",
                                                  "--no-cache-dir", "mlops-ix3-probe==0.1"],
                       env={"NETRC": "/dev/null"})
    assert code != 0 and "No matching distribution" in out, out

    code, out = run_in(docker_client, container, "stat -c '%a %u:%g' /run/secrets/mlops-hub-netrc; id -u; id -g")
    mode_owner, uid, gid = out.strip().splitlines()
    assert code == 0 and mode_owner == f"400 {uid}:{gid}" and uid != "0", out
    hub.stop(user_name)


def test_password_never_in_service_spec_env_or_hub_logs(index, user_name, docker_client, spawn):
    hub, password, _ = index
    service = spawn(user_name, ["pk-users"])
    inspected = json.dumps(docker_client.inspect_service(service))
    assert password not in inspected
    spec = docker_client.inspect_service(service)["Spec"]["TaskTemplate"]["ContainerSpec"]
    env = dict(item.split("=", 1) for item in spec["Env"])
    assert env["NETRC"] == "/run/secrets/mlops-hub-netrc"
    assert env["PIP_CONFIG_FILE"] == "/etc/mlops-hub/pip.conf" and env["UV_CONFIG_FILE"] == "/etc/mlops-hub/uv.toml"
    assert env["CONDARC"] == "/etc/mlops-hub/condarc"
    # the netrc beside the hub API token's own secret
    assert {s["File"]["Name"] for s in spec["Secrets"]} == {"mlops-hub-netrc", "jupyterhub_api_token"}
    # the delivered non-secret files do not hold it either
    container = server_container(docker_client, service)
    code, out = run_in(docker_client, container, "cat /etc/mlops-hub/pip.conf /etc/mlops-hub/uv.toml "
                                                 "/etc/mlops-hub/condarc; env")
    assert code == 0 and password not in out and f"index-url = {INDEX}/simple/" in out
    hub.stop(user_name)
    logs = hub_logs(STACK)
    assert "Server misconfigured" not in logs and user_name in logs  # the logs are the hub's, at DEBUG
    assert password not in logs


def test_corporate_ca_bundle_delivered_and_used(index, user_name, docker_client, spawn):
    hub, _, ca = index
    service = spawn(user_name, ["pk-users"])
    container = server_container(docker_client, service)
    code, out = run_in(docker_client, container, 'echo "$SSL_CERT_FILE $REQUESTS_CA_BUNDLE $PIP_CERT"')
    assert out.split() == ["/etc/mlops-hub/ca-bundle.pem"] * 3
    code, bundle = run_in(docker_client, container, ["cat", "/etc/mlops-hub/ca-bundle.pem"])
    assert code == 0 and ca.decode().strip() in bundle
    # the hub's public roots come first, so public sites still verify
    assert bundle.count("BEGIN CERTIFICATE") > 10
    # Python's ssl loads the bundle from SSL_CERT_FILE, the test CA included
    subjects = ("import ssl; print([dict(x[0] for x in c['subject'])"
                " for c in ssl.create_default_context().get_ca_certs()])")
    code, out = run_in(docker_client, container, ["python3", "-c", subjects])
    assert code == 0 and "'commonName': 'mlops-hub test corporate CA'" in out, out
    # the index's certificate comes from that CA: Python's ssl, and requests (MLflow's client)
    # through REQUESTS_CA_BUNDLE, reach it; requests also logs in with the injected .netrc
    _wait_for_index(docker_client, container)
    code, out = run_in(docker_client, container,
                       ["python3", "-c", f"import requests; print(requests.get('{INDEX}/simple/').status_code)"])
    assert (code, out.strip()) == (0, "200"), out
    # with the public roots only, pip refuses the same index: the injected CA is what makes it work
    roots = "/etc/ssl/certs/ca-certificates.crt"
    public = {name: roots for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")}
    code, out = run_in(docker_client, container, [*PIP, "mlops-ix3-probe==0.1"], env=public)
    assert code != 0 and "CERTIFICATE_VERIFY_FAILED" in out, out
    hub.stop(user_name)


UV = ["uv", "pip", "install", "--no-cache", "--python", "/opt/venv/bin/python"]


def test_uv_install_through_injected_index_over_tls(index, user_name, docker_client, spawn):
    """uv reads the injected uv.toml (UV_CONFIG_FILE), .netrc (NETRC) and CA (SSL_CERT_FILE)."""
    hub, _, _ = index
    container = server_container(docker_client, spawn(user_name, ["pk-users"]))
    _wait_for_index(docker_client, container)
    code, out = run_in(docker_client, container, [*UV, "mlops-ix3-probe==0.1"])
    assert code == 0, out
    code, out = run_in(docker_client, container, ["python3", "-c", f"import {PROBE}; print({PROBE}.MARK)"])
    assert (code, out.strip()) == (0, MARK)
    # without the credentials the index refuses uv as well
    code, out = run_in(docker_client, container, [*UV, "--reinstall", "mlops-ix3-probe==0.1"],
                       env={"NETRC": "/dev/null"})
    assert code != 0 and "mlops-ix3-probe" in out, out
    hub.stop(user_name)


def test_injection_off_for_a_role_pip_install_fails(index, user_name, docker_client, spawn):
    hub, _, _ = index
    service = spawn(user_name, ["pk-offline"])
    spec = docker_client.inspect_service(service)["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert {s["File"]["Name"] for s in spec.get("Secrets") or []} == {"jupyterhub_api_token"}
    assert not spec.get("Configs")
    assert not any(e.startswith(("PIP_CONFIG_FILE=", "NETRC=")) for e in spec["Env"])
    container = server_container(docker_client, service)
    _wait_for_index(docker_client, container, verify=False)
    code, out = run_in(docker_client, container, [*PIP, "mlops-ix3-probe==0.1"])
    assert code != 0, out
    # even pointed at the index by hand, it refuses without the injected credentials
    # (--trusted-host: this server has no corporate CA, so the certificate is not checked)
    code, out = run_in(docker_client, container, [*PIP, "--index-url", f"{INDEX}/simple/",
                                                  "--trusted-host", f"{PYPI}:8443", "mlops-ix3-probe==0.1"])
    assert code != 0 and "No matching distribution" in out, out
    hub.stop(user_name)


def _objects(client, spec) -> dict[str, str]:
    names = {c["File"]["Name"]: c["ConfigName"] for c in spec.get("Configs") or []}
    names.update({s["File"]["Name"]: s["SecretName"] for s in spec.get("Secrets") or []})
    names.pop("jupyterhub_api_token", None)  # the spawner's per-server token secret, not ours
    return names


def _exists(client, name: str) -> bool:
    found = client.configs(filters={"name": name}) + client.secrets(filters={"name": name})
    return any(o["Spec"]["Name"] == name for o in found)


def test_content_addressed_objects_shared_and_removed_when_unused(index, user_name, docker_client, spawn):
    hub, _, _ = index
    a, b = f"{user_name}-a", f"{user_name}-b"
    spec_a = docker_client.inspect_service(spawn(a, ["pk-users"]))["Spec"]["TaskTemplate"]["ContainerSpec"]
    spec_b = docker_client.inspect_service(spawn(b, ["pk-team-b"]))["Spec"]["TaskTemplate"]["ContainerSpec"]
    objs_a, objs_b = _objects(docker_client, spec_a), _objects(docker_client, spec_b)
    pip_a, pip_b = objs_a["/etc/mlops-hub/pip.conf"], objs_b["/etc/mlops-hub/pip.conf"]
    assert pip_a != pip_b  # a different setting: a different object
    assert objs_a["mlops-hub-netrc"] == objs_b["mlops-hub-netrc"]  # same content: shared
    for name in objs_a.values():
        labels = (docker_client.configs(filters={"name": name}) + docker_client.secrets(filters={"name": name}))
        assert labels[0]["Spec"]["Labels"]["mlops-hub.prefix"] == hub.prefix

    hub.stop(b)
    assert not _exists(docker_client, pip_b)  # nobody uses it any more
    assert all(_exists(docker_client, n) for n in objs_a.values())  # a's server still uses these
    hub.stop(a)
    assert not any(_exists(docker_client, n) for n in objs_a.values())
