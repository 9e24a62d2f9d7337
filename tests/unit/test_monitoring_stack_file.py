"""Monitoring's part of swarm-stack.yml and Prometheus's configuration: every exporter on the internal
network only (no user server reaches them), one node and one server exporter per node, the scrape token a
Swarm secret only the hub and Prometheus get, every scrape through tasks.<service> of a real service, and
spawn-duration buckets that resolve 0.5 to 10 s."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mlops_hub.deploy.images import RECIPES
from mlops_hub.deploy.stack import SECRET_NAMES, StackSettings, stack_env

REPO = Path(__file__).resolve().parents[2]
STACK = yaml.safe_load((REPO / "swarm-stack.yml").read_text())
SERVICES = STACK["services"]
MONITORING = ("prometheus", "pushgateway", "node-exporter", "server-exporter")
PROMETHEUS_DIR = REPO / "images" / "prometheus"


def rendered_prometheus_config(interval: str = "5s") -> dict:
    template = (PROMETHEUS_DIR / "prometheus.yml.template").read_text()
    return yaml.safe_load(template.replace("@SCRAPE_INTERVAL@", interval))


def test_monitoring_services_sit_on_the_internal_network_only():
    for name in MONITORING:
        service = SERVICES[name]
        assert service["networks"] == ["backend"], name
        assert "ports" not in service and service["deploy"]["endpoint_mode"] == "dnsrr", name
    assert STACK["networks"]["backend"]["internal"] is True
    # the edge reaches Prometheus (admins) and the Pushgateway (pushes with a hub token) on it
    assert "backend" in SERVICES["edge"]["networks"]


def test_one_image_for_three_services_and_exporters_on_every_node():
    image = "${MLOPS_REGISTRY:-mlops-hub}/prometheus:${MLOPS_TAG:-latest}${MLOPS_DIGEST_PROMETHEUS:-}"
    assert {SERVICES[n]["image"] for n in ("prometheus", "pushgateway", "node-exporter")} == {image}
    assert "prometheus" in RECIPES and RECIPES["prometheus"].inputs == ("images/prometheus",)
    for name in ("node-exporter", "server-exporter"):
        assert SERVICES[name]["deploy"]["mode"] == "global", name
    assert SERVICES["server-exporter"]["image"] == SERVICES["hub"]["image"]  # no image of its own
    assert SERVICES["server-exporter"]["command"] == ["python", "-m", "mlops_hub.monitoring.server_exporter"]
    assert SERVICES["server-exporter"]["volumes"] == ["/var/run/docker.sock:/var/run/docker.sock:ro"]
    (host,) = SERVICES["node-exporter"]["volumes"]
    assert (host["source"], host["target"], host["read_only"]) == ("/", "/host", True)


def test_the_metrics_token_is_a_secret_of_the_hub_the_edge_and_prometheus_only():
    assert "metrics_token" in SECRET_NAMES  # `up` generates it, `down` removes it
    holders = {name for name, s in SERVICES.items() if "metrics_token" in {x["source"] for x in s.get("secrets", [])}}
    # the hub and the edge check it (their metrics), Prometheus sends it
    assert holders == {"hub", "edge", "prometheus"}
    (secret,) = [s for s in SERVICES["prometheus"]["secrets"] if s["source"] == "metrics_token"]
    assert (secret["uid"], secret["mode"]) == ("65534", 0o400)  # Prometheus runs as nobody
    assert STACK["secrets"]["metrics_token"]["name"].endswith("_metrics_token_${MLOPS_SECRET_HASH_metrics_token:-0}")
    for name, service in SERVICES.items():
        assert not any("METRICS_TOKEN" in key for key in (service.get("environment") or {})), name


def test_the_deploy_sets_the_images_and_the_secrets_hash(tmp_path):
    settings = StackSettings(repo=REPO, stack="s", state_dir=tmp_path, tag="abc")
    env = stack_env(settings)
    assert (env["MLOPS_REGISTRY"], env["MLOPS_TAG"]) == ("mlops-hub", "abc")
    assert settings.image("prometheus") == "mlops-hub/prometheus:abc"
    assert re.fullmatch(r"[0-9a-f]{12}", env["MLOPS_SECRET_HASH_metrics_token"])
    assert len((settings.secrets_dir / "metrics_token").read_text()) == 64


def test_spawn_duration_buckets_resolve_half_a_second_to_ten_seconds():
    raw = SERVICES["hub"]["environment"]["JUPYTERHUB_SERVER_SPAWN_DURATION_SECONDS_BUCKETS"]
    buckets = [float(b) for b in raw.split(",")]
    assert buckets == sorted(buckets) and buckets[-1] == float("inf")
    fine = [b for b in buckets if b <= 10]
    assert fine[0] == 0.5 and fine[-1] == 10
    assert max(b - a for a, b in zip(fine, fine[1:], strict=False)) <= 1  # a second or finer up to 10 s


def test_every_scrape_goes_through_tasks_dns_of_a_service_of_the_stack():
    config = rendered_prometheus_config()
    assert config["global"]["scrape_interval"] == "5s"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"hub", "prometheus", "node", "servers", "pushgateway", "models"}
    for name, job in jobs.items():
        for sd in job.get("dns_sd_configs", []):
            (target,) = sd["names"]
            assert target.startswith("tasks.") and target.removeprefix("tasks.") in SERVICES, name
    hub = jobs["hub"]
    assert hub["metrics_path"] == "/hub/metrics" and hub["dns_sd_configs"][0]["port"] == 8081
    assert hub["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    # the served models' traffic, counted by the edge (its metrics ask for the same token)
    models = jobs["models"]
    assert models["dns_sd_configs"][0]["names"] == ["tasks.edge"] and models["dns_sd_configs"][0]["port"] == 9113
    assert models["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    # pushed series keep their user label; their `job` cannot pose as a platform target's
    push = jobs["pushgateway"]
    assert push["honor_labels"] is True
    assert push["metric_relabel_configs"] == [{"source_labels": ["job"], "target_label": "pushed_job"},
                                              {"target_label": "job", "replacement": "pushgateway"}]
    assert config["rule_files"] == ["/etc/mlops-hub/prometheus/alerts.yml"]


def test_the_alert_rules_cover_what_the_platform_promises():
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} == {"MlopsHubDown", "MlopsSpawnFailureRate", "MlopsPoolNearlyFull",
                                           "MlopsNodeDiskLow", "MlopsNodeMemoryLow"}
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yml").read_text())
    tested = {case["alertname"] for t in tests["tests"] for case in t["alert_rule_test"]}
    assert tested == {r["alert"] for r in rules}  # promtool test rules (tests/integration) runs each


def test_the_edge_offers_prometheus_to_admins_and_pushes_of_ones_own_group_only():
    conf = (REPO / "images" / "edge" / "nginx.conf.template").read_text()
    prometheus = conf.split("location ^~ /prometheus/ {")[1].split("}")[0]
    assert "auth_request /_edge/check/prometheus-admin;" in prometheus
    admin_check = conf.split("location = /_edge/check/prometheus-admin {")[1].split("}")[0]
    assert "proxy_set_header X-Mlops-Require-Admin true;" in admin_check
    grafana_check = conf.split("location = /_edge/check/grafana-admin {")[1].split("}")[0]
    assert "proxy_set_header X-Mlops-Require-Admin true;" in grafana_check
    internal = conf.split("# inside the stack: lab servers and batch jobs")[1]
    push = internal.split('location ~ "^/pushgateway/metrics/job/(?<push_job>[A-Za-z0-9_.-]{1,100})$" {')[1]
    push = push.split("\n        }\n")[0]
    assert "limit_except PUT POST DELETE" in push and "auth_request /_edge/check/prometheus;" in push
    assert "proxy_pass $pushgateway/metrics/job/$push_job/user/$mlops_user;" in push
    assert "location /pushgateway/ {\n            return 403;" in internal  # nothing else of it
    assert "location ^~ /pushgateway" not in internal  # a ^~ prefix would shadow the push location's regex
    # the public listener has no Pushgateway route
    assert "pushgateway" not in conf.split("# inside the stack: lab servers and batch jobs")[0].split("server {", 2)[2]


def test_user_servers_get_the_push_address():
    assert SERVICES["hub"]["environment"]["MLOPS_PUSHGATEWAY_URL"] == "http://edge:8080/pushgateway"
    config = (REPO / "jupyterhub_config.py").read_text()
    assert '"MLOPS_PUSHGATEWAY_URL": os.environ.get("MLOPS_PUSHGATEWAY_URL", "")' in config
