"""The monitoring image on its own (no stack): promtool checks the alert rules and runs their unit tests
(alerts.test.yml), the start script renders a configuration Prometheus accepts, and the three programs the
stack runs from it are there."""

from __future__ import annotations

import docker
import pytest

pytestmark = pytest.mark.swarm


def run(image: str, command: str) -> str:
    return docker.from_env().containers.run(image, ["sh", "-c", command], remove=True, network_mode="none",
                                            entrypoint=[]).decode()


def test_promtool_checks_and_unit_tests_the_alert_rules(images):
    out = run(images["prometheus"], "cd /etc/mlops-hub/prometheus && promtool check rules alerts.yml"
                                    " && promtool test rules alerts.test.yml && echo RULES-OK")
    assert "SUCCESS: 5 rules found" in out and "RULES-OK" in out, out


def test_the_rendered_configuration_passes_promtool(images):
    render = ("sed -e 's|@SCRAPE_INTERVAL@|5s|g' /etc/mlops-hub/prometheus/prometheus.yml.template > /tmp/p.yml"
              " && mkdir -p /tmp/run && sed -i 's|/run/secrets/metrics_token|/tmp/run/token|' /tmp/p.yml"
              " && echo t > /tmp/run/token && promtool check config /tmp/p.yml && echo CONFIG-OK")
    out = run(images["prometheus"], render)
    assert "CONFIG-OK" in out, out


def test_the_start_script_refuses_to_run_without_the_scrape_token(images):
    with pytest.raises(docker.errors.ContainerError) as failed:
        run(images["prometheus"], "mlops-hub-prometheus")
    assert b"/run/secrets/metrics_token is missing" in failed.value.stderr


def test_the_three_programs_of_the_image(images):
    out = run(images["prometheus"], "prometheus --version 2>&1 | head -1; prometheus-node-exporter --version 2>&1"
                                    " | head -1; prometheus-pushgateway --version 2>&1 | head -1; id -u")
    lines = out.splitlines()
    assert lines[0].startswith("prometheus, version 2.") and lines[1].startswith("node_exporter, version 1.")
    assert lines[2].startswith("pushgateway, version 1.") and lines[3] == "65534", out
