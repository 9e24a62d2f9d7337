"""Grafana: configuration only - Grafana's image cannot be had here, so its service is never started in
these tests. What is checked: the overlay stack file, the provisioning files against Grafana's provisioning
schema fields, the data source pointing at the stack's own Prometheus (service, port, route prefix), every
dashboard mounted and its queries well-formed (tests/integration/test_monitoring.py runs each query
against the real Prometheus), and auth.proxy trusting exactly the header the edge sets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from mlops_hub.deploy.hashes import directory_hash
from mlops_hub.deploy.stack import StackSettings, grafana_overlay
from mlops_hub.names import EDGE_USER_HEADER

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "config" / "grafana"
OVERLAY = yaml.safe_load((REPO / "swarm-stack.grafana.yml").read_text())
STACK = yaml.safe_load((REPO / "swarm-stack.yml").read_text())
SERVICE = OVERLAY["services"]["grafana"]
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def mounted() -> dict[str, Path]:
    """Each Swarm config of the overlay: its target in the container -> its file in the repository."""
    files = {name: REPO / spec["file"] for name, spec in OVERLAY["configs"].items()}
    return {c["target"]: files[c["source"]] for c in SERVICE["configs"]}


def test_configuration_only_grafanas_image_is_the_sites_own():
    """Configuration only: Grafana's image cannot be had here; the overlay refuses to deploy without one."""
    assert SERVICE["image"].startswith("${MLOPS_GRAFANA_IMAGE:?")
    assert SERVICE["networks"] == ["backend"] and "ports" not in SERVICE  # reached through the edge only
    assert SERVICE["deploy"]["endpoint_mode"] == "dnsrr"


def test_configuration_only_auth_proxy_trusts_the_edges_user_header_and_nothing_else():
    """Configuration only (no Grafana image here): the header is the edge's, no login form, no basic auth."""
    env = SERVICE["environment"]
    assert env["GF_AUTH_PROXY_ENABLED"] == "true"
    assert env["GF_AUTH_PROXY_HEADER_NAME"] == EDGE_USER_HEADER
    assert env["GF_AUTH_DISABLE_LOGIN_FORM"] == "true" and env["GF_AUTH_BASIC_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false" and env["GF_USERS_AUTO_ASSIGN_ORG_ROLE"] == "Viewer"
    assert env["GF_SERVER_SERVE_FROM_SUB_PATH"] == "true" and env["GF_SERVER_ROOT_URL"].endswith("/grafana/")
    conf = (REPO / "images" / "edge" / "nginx.conf.template").read_text()
    grafana = conf.split("location ^~ /grafana/ {")[1].split("}")[0]
    # the edge overwrites the header with the hub's answer (a client's own value never reaches Grafana)
    assert f"proxy_set_header {EDGE_USER_HEADER} $mlops_user;" in grafana
    assert "auth_request /_edge/check/grafana-admin;" in grafana


def test_configuration_only_the_datasource_is_the_stacks_prometheus():
    """Configuration only: the provisioned data source names the stack's Prometheus service, its port and
    the route prefix it serves under."""
    ds_file = mounted()["/etc/grafana/provisioning/datasources/prometheus.yml"]
    provisioning = yaml.safe_load(ds_file.read_text())
    assert provisioning["apiVersion"] == 1
    (ds,) = provisioning["datasources"]
    assert {"name", "type", "access", "url", "uid"} <= set(ds)
    assert (ds["type"], ds["access"], ds["isDefault"]) == ("prometheus", "proxy", True)
    host, port, prefix = re.fullmatch(r"http://([\w-]+):(\d+)(/\w+)", ds["url"]).groups()
    assert host in STACK["services"] and "backend" in STACK["services"][host]["networks"]
    script = (REPO / "images" / "prometheus" / "mlops-hub-prometheus").read_text()
    assert f"--web.listen-address=:{port}" in script and f"--web.route-prefix={prefix}" in script


def test_configuration_only_every_dashboard_is_provisioned_and_mounted():
    """Configuration only: the dashboard provider reads the folder the overlay mounts every JSON file into."""
    files = mounted()
    provider_file = files["/etc/grafana/provisioning/dashboards/mlops-hub.yml"]
    provisioning = yaml.safe_load(provider_file.read_text())
    assert provisioning["apiVersion"] == 1
    (provider,) = provisioning["providers"]
    assert provider["type"] == "file" and {"name", "options"} <= set(provider)
    folder = provider["options"]["path"]
    dashboards = {target: path for target, path in files.items() if target.startswith(folder + "/")}
    assert sorted(dashboards.values()) == DASHBOARDS  # a new dashboard file must be mounted too
    assert {p.name for p in dashboards.values()} == {Path(t).name for t in dashboards}


def test_configuration_only_dashboards_are_well_formed_with_queries_on_the_datasource():
    """Configuration only: Grafana's dashboard fields, unique uids and panel ids, every target a PromQL
    expression on the provisioned data source (run against the real Prometheus in the end-to-end test)."""
    (ds,) = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"]
    titles = set()
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert {"uid", "title", "panels", "schemaVersion", "time"} <= set(board), path.name
        uids.add(board["uid"])
        titles.add(board["title"])
        assert len({p["id"] for p in board["panels"]}) == len(board["panels"]), path.name
        for panel in board["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": ds["uid"]}, (path.name, panel["title"])
            assert panel["targets"] and {"x", "y", "w", "h"} <= set(panel["gridPos"])
            for target in panel["targets"]:
                assert target["expr"].strip() and target["refId"], (path.name, panel["title"])
    assert len(uids) == len(DASHBOARDS)
    assert titles == {"mlops-hub: platform health", "mlops-hub: spawns and failures",
                      "mlops-hub: team pools per role", "mlops-hub: user servers, use against limits",
                      "mlops-hub: model metrics", "mlops-hub: served models"}


def test_configuration_only_the_overlay_deploys_only_with_a_grafana_image(tmp_path):
    """Configuration only: `up` adds swarm-stack.grafana.yml when MLOPS_GRAFANA_IMAGE names an image, and
    the provisioning files' hash names its configs (a change deploys anew)."""
    settings = StackSettings(repo=REPO, stack="s", state_dir=tmp_path)
    assert grafana_overlay(settings, {}) == []
    env = {"MLOPS_GRAFANA_IMAGE": "site/grafana:10"}
    assert grafana_overlay(settings, env) == [str(REPO / "swarm-stack.grafana.yml")]
    assert env["MLOPS_GRAFANA_HASH"] == directory_hash(GRAFANA)
    for spec in OVERLAY["configs"].values():
        assert spec["name"].endswith("_${MLOPS_GRAFANA_HASH:-0}")
    # the edge's /grafana/ route and its admins-only login check
    conf = (REPO / "images" / "edge" / "nginx.conf.template").read_text()
    assert "set $grafana http://@GRAFANA@;" in conf
    assert "MLOPS_EDGE_GRAFANA:-grafana:3000" in (REPO / "images" / "edge" / "mlops-hub-edge").read_text()
    assert SERVICE["environment"]["GF_SERVER_HTTP_PORT"] == "3000"
