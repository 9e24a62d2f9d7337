"""A real JupyterHub process with a bad platform file does not start, and says why (file and key)."""

from __future__ import annotations

import pytest

from .hub import ROLE_POLICIES, HubProcess


@pytest.mark.parametrize("store", ["on", "off"])
def test_hub_with_a_role_naming_an_unknown_environment_stops_at_start(tmp_path, store):
    platform = tmp_path / "platform.yaml"
    platform.write_text("spawner:\n  role_policies:\n    typo: {max_cpu: 1, max_mem: 1G, environments: [pyhton]}\n")
    config = (f"\nc.MLOpsSwarmSpawner.quota_store = {store == 'on'}\n"
              "from mlops_hub.hub.config import configure_platform\n"
              f"configure_platform(c, {str(platform)!r})\n")
    hub = HubProcess(f"sqlite:///{tmp_path}/hub.sqlite", role_policies=dict(ROLE_POLICIES), extra_config=config)
    try:
        with pytest.raises(RuntimeError, match="hub exited"):
            hub.start()
        assert hub.proc.returncode != 0
        logs = hub.logs()
        assert (f"mlops-hub: the hub cannot start: {platform}: spawner.role_policies['typo'].environments:"
                " unknown ['pyhton']; defined: python") in logs
        assert "Traceback" not in logs
    finally:
        hub.remove()


def test_hub_with_a_good_platform_file_starts(tmp_path):
    platform = tmp_path / "platform.yaml"
    platform.write_text("spawner:\n  admin_contact: the start-check team\n")
    config = ("\nfrom mlops_hub.hub.config import configure_platform\n"
              f"configure_platform(c, {str(platform)!r})\n")
    hub = HubProcess(f"sqlite:///{tmp_path}/hub.sqlite", extra_config=config)
    try:
        hub.start()
        assert hub.api("GET", "/mlops/quotas").status_code == 200
    finally:
        hub.remove()
