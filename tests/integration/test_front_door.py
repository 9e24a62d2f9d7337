"""The front door on the real stack: nginx with TLS is the only thing that answers from outside,
http goes to https, and MLflow is reached only through the hub's login (cookie for browsers, the
user's hub token for programs) - never directly, never with a forged identity."""

from __future__ import annotations

import ssl
import subprocess
import sys
from urllib.parse import urljoin

import docker
import pytest
import requests
from cryptography import x509

from tests.support.edge_ca import ca_cert
from tests.support.ports import free_port

from .conftest import REPO

pytestmark = pytest.mark.swarm


def test_http_is_redirected_to_https_on_the_same_path(hub, stack_settings):
    r = requests.get(f"http://127.0.0.1:{stack_settings.http_port}/hub/login?next=%2Fhub%2Fhome",
                     allow_redirects=False, timeout=10)
    assert r.status_code == 301, r.text[:200]
    assert r.headers["Location"] == f"https://127.0.0.1:{stack_settings.https_port}/hub/login?next=%2Fhub%2Fhome"


def test_only_the_edge_and_the_image_registry_publish_ports(hub, stack_settings):
    services = docker.APIClient().services(filters={"label": f"com.docker.stack.namespace={stack_settings.stack}"})
    published = {s["Spec"]["Name"].removeprefix(f"{stack_settings.stack}_"):
                 sorted(p["PublishedPort"] for p in s["Spec"].get("EndpointSpec", {}).get("Ports") or [])
                 for s in services}
    assert published == {"edge": sorted([stack_settings.https_port, stack_settings.http_port]),
                         "hub": [], "proxy": [], "mlflow": [], "db": [], "airflow-api-server": [],
                         "airflow-scheduler": [], "airflow-dag-processor": [], "airflow-triggerer": [],
                         # monitoring: on the internal network, reached through the edge only
                         "prometheus": [], "pushgateway": [], "node-exporter": [], "server-exporter": [],
                         # every node's Docker daemon pulls from it (not a container on the overlay network)
                         "registry": [stack_settings.registry_port]}


def test_the_certificate_comes_from_the_local_ca_and_security_headers_are_set(hub, stack_settings):
    r = requests.get(f"{hub.url}/hub/login", timeout=10)  # verified against the CA (tests/conftest.py)
    assert r.status_code == 200
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert r.headers["Server"] == "nginx"  # no version
    served = x509.load_pem_x509_certificate(
        ssl.get_server_certificate(("127.0.0.1", stack_settings.https_port)).encode())
    assert served.issuer == x509.load_pem_x509_certificate(ca_cert().read_bytes()).subject
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    # the hub marks its login cookie Secure: it knows the browser's scheme through the proxy
    session = hub.login(*_account(hub, "cookie"))
    login_cookies = [c for c in session.cookies if c.name in ("jupyterhub-session-id", "jupyterhub-hub-login")]
    assert login_cookies and all(c.secure for c in login_cookies), [(c.name, c.secure) for c in session.cookies]


def _account(hub, base: str) -> tuple[str, str]:
    user = f"{base}-{free_port() % 10000}"
    return user, hub.account(user)


def test_mlflow_refuses_requests_without_a_hub_login(hub):
    hub.create_user("probe-user")
    hub.mlflow_session("probe-user")  # MLflow is up
    r = requests.post(f"{hub.mlflow_api}/experiments/create", json={"name": "anonymous"}, timeout=10)
    assert r.status_code == 401, r.text
    assert r.json()["error_code"] == "UNAUTHENTICATED"
    # a browser page load goes to the hub's login (OAuth), and comes back afterwards
    r = requests.get(f"{hub.url}/mlflow/", headers={"Accept": "text/html"}, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    assert urljoin(hub.url, r.headers["Location"]).startswith(
        f"{hub.url}/hub/api/oauth2/authorize?client_id=service-mlflow&redirect_uri=%2Fmlflow%2F_edge%2Foauth_callback")
    # naming oneself in the headers MLflow trusts does not help: nginx overwrites them
    forged = {"X-Mlops-User": "admin", "X-Mlops-Admin": "true"}
    assert requests.get(f"{hub.mlflow_api}/experiments/search?max_results=1", headers=forged,
                        timeout=10).status_code == 401
    # a token that is not a person's (the CLI's admin service) is refused: MLflow must know who acts
    r = requests.get(f"{hub.mlflow_api}/experiments/search?max_results=1",
                     headers={"Authorization": f"token {hub.token}"}, timeout=10)
    assert r.status_code == 401, r.text


def test_a_forged_identity_header_with_a_real_token_is_replaced_by_the_tokens_user(hub):
    user, _ = _account(hub, "forger")
    mlflow = hub.mlflow_session(user)
    r = mlflow.post(f"{hub.mlflow_api}/experiments/create", json={"name": f"forged-{user}"}, timeout=30,
                    headers={"X-Mlops-User": "admin", "X-Mlops-Admin": "true"})
    assert r.status_code == 200, r.text
    experiment = r.json()["experiment_id"]
    r = mlflow.post(f"{hub.mlflow_api}/runs/create", json={"experiment_id": experiment}, timeout=30,
                    headers={"X-Mlops-User": "admin"})
    assert r.status_code == 200, r.text
    assert r.json()["run"]["info"]["user_id"] == user


def test_mlflow_is_reachable_only_through_the_edge(hub, stack_settings, images):
    """From the network user servers are on, MLflow itself is not there; the edge's internal
    listener is, and it wants the user's token."""
    hub.create_user("probe-user")
    headers = hub.user_headers("probe-user", "internal listener")
    hub.mlflow_session("probe-user")  # MLflow is up
    script = ("curl -sS -m 5 -o /dev/null -w 'direct=%{http_code}\\n' http://mlflow:5000/mlflow/health 2>&1;"
              " curl -sS -m 5 -o /dev/null -w 'edge-anonymous=%{http_code}\\n' http://edge:8080/mlflow/health;"
              " curl -sS -m 5 -o /dev/null -w 'edge-token=%{http_code}\\n' -H \"Authorization: $AUTH\""
              " http://edge:8080/mlflow/health;"
              " curl -sS -m 5 -o /dev/null -w 'edge-hub=%{http_code}\\n' http://edge:8080/hub/api/")
    out = docker.from_env().containers.run(
        images["edge"], ["sh", "-c", script], network=stack_settings.network, remove=True,
        environment={"AUTH": headers["Authorization"]}).decode()
    assert "Could not resolve host: mlflow" in out, out
    assert "edge-anonymous=401" in out and "edge-token=200" in out, out
    assert "edge-hub=404" in out, out  # the internal listener serves MLflow only


USER_NETWORK_FINDS = {"hub", "proxy", "edge"}
PLATFORM_ONLY = {"db", "mlflow", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                 "airflow-triggerer", "prometheus", "pushgateway", "node-exporter", "server-exporter"}


def test_the_user_servers_network_finds_no_platform_service(hub, stack_settings, images):
    """Networks by trust: on the network user servers join, the hub, the proxy and the edge are found, and
    none of the services that hold the platform's data (they sit on the internal platform network only)."""
    names = sorted(USER_NETWORK_FINDS | PLATFORM_ONLY)
    script = "; ".join(f"getent hosts {n} >/dev/null && echo {n}=found || echo {n}=absent" for n in names)
    out = docker.from_env().containers.run(images["edge"], ["sh", "-c", script], network=stack_settings.network,
                                           remove=True).decode()
    found = {line.split("=")[0] for line in out.split() if line.endswith("=found")}
    assert found == USER_NETWORK_FINDS, out


def test_a_browser_login_reaches_mlflow_with_a_cookie_scoped_to_mlflow(hub):
    user, password = _account(hub, "flow")
    session = hub.login(user, password)
    # the first visit goes through the hub's OAuth (no consent page) and back to MLflow's UI
    r = session.get(f"{hub.url}/mlflow/", headers={"Accept": "text/html"}, timeout=30)
    assert r.status_code == 200 and r.url == f"{hub.url}/mlflow/", (r.status_code, r.url)
    assert "<title>MLflow</title>" in r.text
    (cookie,) = [c for c in session.cookies if c.name == "service-mlflow"]
    # MLflow's own path only: a user server under /user/<name>/ never receives it
    assert cookie.path == "/mlflow/" and cookie.secure and cookie.has_nonstandard_attr("HttpOnly")
    api = f"{hub.url}/mlflow/ajax-api/2.0/mlflow"
    # what MLflow's UI sends: fetch() calls (mode cors) without JupyterHub's XSRF token
    ui_fetch = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
    assert session.get(f"{api}/experiments/search?max_results=1", headers=ui_fetch, timeout=30).status_code == 200
    # another site's page cannot make the browser write with this cookie
    cross = session.post(f"{api}/experiments/create", json={"name": f"csrf-{user}"}, timeout=30,
                         headers={**ui_fetch, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403, cross.text
    own = session.post(f"{api}/experiments/create", json={"name": f"own-{user}"}, timeout=30, headers=ui_fetch)
    assert own.status_code == 200, own.text
    r = session.get(f"{api}/experiments/get-by-name", params={"experiment_name": f"csrf-{user}"}, timeout=30)
    assert r.status_code == 404, r.text  # the refused write did not happen


def test_status_shows_when_the_deployed_certificate_expires(hub, stack_settings):
    from mlops_hub.deploy.tls import certificate_expiry

    proc = subprocess.run([sys.executable, "-m", "mlops_hub.cli", "status", "--stack", stack_settings.stack],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    expires = certificate_expiry(stack_settings.tls_files().cert)
    assert f"TLS certificate: valid until {expires:%Y-%m-%d %H:%M} UTC (" in proc.stdout, proc.stdout


def test_another_user_reads_but_cannot_delete_a_run(hub):
    ann, _ = _account(hub, "owner")
    bob, _ = _account(hub, "other")
    as_ann, as_bob = hub.mlflow_session(ann), hub.mlflow_session(bob)
    r = as_ann.post(f"{hub.mlflow_api}/experiments/create", json={"name": f"churn-{ann}"}, timeout=30)
    assert r.status_code == 200, r.text
    experiment = r.json()["experiment_id"]
    run = as_ann.post(f"{hub.mlflow_api}/runs/create", json={"experiment_id": experiment}, timeout=30
                      ).json()["run"]["info"]["run_id"]
    assert as_bob.get(f"{hub.mlflow_api}/runs/get", params={"run_id": run}, timeout=30).status_code == 200
    for path, body in (("runs/delete", {"run_id": run}), ("experiments/delete", {"experiment_id": experiment}),
                       ("runs/log-metric", {"run_id": run, "key": "m", "value": 1, "timestamp": 0})):
        r = as_bob.post(f"{hub.mlflow_api}/{path}", json=body, timeout=30)
        assert r.status_code == 403, (path, r.status_code, r.text)
    r = as_ann.get(f"{hub.mlflow_api}/runs/get", params={"run_id": run}, timeout=30)
    assert r.json()["run"]["info"]["lifecycle_stage"] == "active"  # Bob's delete did nothing
    assert as_ann.post(f"{hub.mlflow_api}/runs/delete", json={"run_id": run}, timeout=30).status_code == 200


def test_up_again_reuses_the_stacks_own_ports(hub, stack_settings):
    """An upgrade (`up` on a running stack) is not refused for the ports the edge already holds,
    while another stack's `up` on them is."""
    from argparse import Namespace

    from mlops_hub.deploy.preflight import PreflightError, check_ports_free

    ports = {"https_port": stack_settings.https_port, "http_port": stack_settings.http_port}
    check_ports_free(Namespace(stack=stack_settings.stack, **ports))
    taken = f"^ports: --https-port: port {stack_settings.https_port} is already in use"
    with pytest.raises(PreflightError, match=taken):
        check_ports_free(Namespace(stack=f"{stack_settings.stack}-other", **ports))
