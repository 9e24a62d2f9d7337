"""`mlops-hub nodes join-command`'s text: the worker join command, what a new machine needs, the loopback case."""

from __future__ import annotations

import pytest

from mlops_hub.deploy.join import is_loopback, join_instructions

TOKEN = "SWMTKN-1-abc-def"


def test_a_reachable_manager_gives_the_join_command_and_what_the_machine_needs():
    found = join_instructions(TOKEN, "10.0.0.5")
    assert found.command == f"docker swarm join --token {TOKEN} 10.0.0.5:2377"
    assert found.warning == ""
    text = " ".join(found.notes)
    assert "Docker Engine" in text and "site's registry" in text and "docker login" in text
    assert "docker node update --label-add gpu=true NODE" in text and "mlops-hub.pool=etl" in text
    assert TOKEN not in text  # the token is in the command only


def test_with_the_platform_registry_the_machine_trusts_its_ca_for_that_registry_only():
    found = join_instructions(TOKEN, "10.0.0.5", "10.0.0.5:5000", "/srv/state/ca/ca.crt")
    text = " ".join(found.notes)
    assert "mkdir -p /etc/docker/certs.d/10.0.0.5:5000" in text
    assert "copy /srv/state/ca/ca.crt" in text and "/etc/docker/certs.d/10.0.0.5:5000/ca.crt" in text
    assert "docker login" not in text


def test_an_ipv6_manager_address_is_bracketed():
    assert join_instructions(TOKEN, "fd00::5").command.endswith(" [fd00::5]:2377")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.1.1", "::1", "localhost"])
def test_a_loopback_manager_says_no_machine_can_join_and_how_to_re_init(address):
    found = join_instructions(TOKEN, address)
    assert is_loopback(address)
    assert "no other machine can join" in found.warning
    assert "docker swarm init --advertise-addr <this machine's IP>" in found.warning
    assert TOKEN not in found.warning


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.2", "fd00::5", "node1.example"])
def test_other_addresses_are_not_loopback(address):
    assert not is_loopback(address)
