"""Package index policy: parsing, per-role overrides, rendered files, no secret outside .netrc."""

from __future__ import annotations

import configparser
import netrc

import pytest
import tomllib
import yaml

from mlops_hub.policy.errors import ConfigError
from mlops_hub.policy.package_index import (
    NETRC_PATH,
    check_ca_bundle,
    package_index_from_config,
    render_ca_bundle,
    render_delivery,
)

PASSWORD = "s3cr3t-Pa55-word"
CA = b"-----BEGIN CERTIFICATE-----\nMIIBcorp\n-----END CERTIFICATE-----\n"
BASE = {
    "index_url": "https://artifactory.corp/api/pypi/pypi-virtual/simple",
    "extra_index_urls": ["http://mirror.corp:8080/simple"],
    "trusted_hosts": ["mirror.corp"],
    "username": "svc-jupyter",
    "password_file": "/run/secrets/artifactory_password",
    "ca_bundle_file": "/etc/mlops-hub/corp-ca.pem",
    "conda": {"channel_alias": "https://artifactory.corp/api/conda", "channels": ["conda-forge"],
              "custom_channels": {"internal": "https://conda.corp/api/conda"}},
}


def delivery(raw=BASE, role=None, password=PASSWORD, ca=CA):
    settings = package_index_from_config(raw).for_role(role)
    return settings, render_delivery(settings, password, ca)


def files(d):
    return {f.key: f for f in d.files}


def test_pip_conf_renders_index_extra_trusted_and_cert():
    _, d = delivery()
    conf = configparser.ConfigParser()
    conf.read_string(files(d)["pip-conf"].content.decode())
    g = conf["global"]
    assert g["index-url"] == BASE["index_url"]
    assert g["extra-index-url"].split() == BASE["extra_index_urls"]
    assert g["trusted-host"].split() == ["mirror.corp"]
    assert g["cert"] == "/etc/mlops-hub/ca-bundle.pem"


def test_uv_toml_is_valid_toml_with_default_index_last():
    _, d = delivery()
    uv = tomllib.loads(files(d)["uv-toml"].content.decode())
    assert uv["index"][-1] == {"name": "default", "url": BASE["index_url"], "default": True}
    assert uv["index"][0]["url"] == BASE["extra_index_urls"][0]
    assert uv["allow-insecure-host"] == ["mirror.corp"]


def test_condarc_has_channel_alias_custom_channels_and_ssl_verify():
    _, d = delivery()
    rc = yaml.safe_load(files(d)["condarc"].content)
    assert rc == {"channel_alias": "https://artifactory.corp/api/conda", "channels": ["conda-forge"],
                  "custom_channels": {"internal": "https://conda.corp/api/conda"},
                  "ssl_verify": "/etc/mlops-hub/ca-bundle.pem"}


def test_netrc_is_the_only_secret_and_covers_every_host(tmp_path):
    _, d = delivery()
    secrets = [f for f in d.files if f.secret]
    assert [f.key for f in secrets] == ["netrc"]
    path = tmp_path / "netrc"
    path.write_bytes(secrets[0].content)
    path.chmod(0o600)
    parsed = netrc.netrc(str(path))
    for host in ("artifactory.corp", "mirror.corp", "conda.corp"):
        assert parsed.authenticators(host) == ("svc-jupyter", "", PASSWORD)


def test_no_secret_in_configs_env_or_names():
    _, d = delivery()
    for f in d.files:
        name = f.object_name("pfx")
        assert PASSWORD not in name
        if not f.secret:
            assert PASSWORD.encode() not in f.content
            assert b"svc-jupyter" not in f.content  # not even the account name
    assert all(PASSWORD not in v for v in d.env.values())
    assert d.env == {
        "PIP_CONFIG_FILE": "/etc/mlops-hub/pip.conf", "UV_CONFIG_FILE": "/etc/mlops-hub/uv.toml",
        "CONDARC": "/etc/mlops-hub/condarc", "NETRC": NETRC_PATH,
        "SSL_CERT_FILE": "/etc/mlops-hub/ca-bundle.pem", "REQUESTS_CA_BUNDLE": "/etc/mlops-hub/ca-bundle.pem",
        "PIP_CERT": "/etc/mlops-hub/ca-bundle.pem",
    }


@pytest.mark.parametrize("raw", [
    {**BASE, "password_file": None, "password": PASSWORD},
    {**BASE, "roles": {"ml-team": {"username": "ml-bot", "password": PASSWORD}}},
])
def test_inline_password_is_refused_pointing_to_password_file(raw):
    """platform.yaml is deployed as a Swarm config anyone with Docker API access can read."""
    with pytest.raises(ConfigError) as e:
        package_index_from_config(raw)
    message = str(e.value)
    assert ".password: an inline password is refused" in message and "password_file" in message
    assert PASSWORD not in message


def test_object_names_are_content_addressed():
    _, d1 = delivery()
    _, d2 = delivery()
    _, d3 = delivery(password="other-password")
    n1, n2, n3 = ({f.key: f.object_name("pfx") for f in d.files} for d in (d1, d2, d3))
    assert n1 == n2
    assert n1["netrc"] != n3["netrc"] and n1["pip-conf"] == n3["pip-conf"]
    assert all(len(n) <= 64 and n.startswith("pfx-") for n in n1.values())


def test_role_override_and_disable():
    raw = {**BASE, "roles": {"team-a": {"index_url": "https://artifactory.corp/api/pypi/team-a/simple",
                                        "username": "team-a-bot", "password_file": "/run/secrets/team_a"},
                             "offline": None, "other": {"enabled": False}}}
    cfg = package_index_from_config(raw)
    assert cfg.for_role(None).index_url == BASE["index_url"]
    assert cfg.for_role("nobody-special").index_url == BASE["index_url"]
    team = cfg.for_role("team-a")
    assert team.index_url.endswith("/team-a/simple") and team.username == "team-a-bot"
    assert team.password_file == "/run/secrets/team_a"
    assert team.extra_index_urls == tuple(BASE["extra_index_urls"])  # inherited
    assert cfg.for_role("offline") is None and cfg.for_role("other") is None


def test_role_with_own_username_does_not_inherit_site_password():
    raw = {**BASE, "roles": {"team-b": {"username": "team-b-bot"}}}
    with pytest.raises(ConfigError, match=r"package_index.roles\['team-b'\]: with username"):
        package_index_from_config(raw)


def test_without_credentials_or_ca_no_secret_and_no_cert_env():
    raw = {"index_url": "https://pypi.corp/simple"}
    _, d = delivery(raw, password=None, ca=None)
    assert not any(f.secret for f in d.files)
    assert set(d.env) == {"PIP_CONFIG_FILE", "UV_CONFIG_FILE", "CONDARC"}
    assert "cert" not in files(d)["pip-conf"].content.decode()


def test_not_configured_means_no_injection():
    assert package_index_from_config(None).for_role("x") is None
    assert package_index_from_config({}).for_role(None) is None


def test_ca_bundle_combines_roots_and_corporate_ca():
    bundle = render_ca_bundle(CA, b"-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----")
    assert bundle.index(b"ROOT") < bundle.index(b"MIIBcorp")
    assert render_ca_bundle(CA, None) == CA
    with pytest.raises(ConfigError, match="package_index.ca_bundle_file"):
        check_ca_bundle(b"not a certificate")


@pytest.mark.parametrize("raw, setting", [
    ({"index_url": "ftp://x/simple"}, "package_index.index_url"),
    ({"index_url": "https://user:pw@x/simple"}, "package_index.index_url: must not contain credentials"),
    ({"index_url": "http://x/simple"}, "package_index.index_url: plain http needs 'x' in trusted_hosts"),
    ({"extra_index_urls": ["https://x"]}, "package_index.index_url: required"),
    ({"index_url": "https://x", "extra_index_urls": ["nope"]}, "package_index.extra_index_urls[0]"),
    ({"index_url": "https://x", "username": "u"}, "package_index: with username"),
    ({"index_url": "https://x", "username": "u", "password": "a b"}, "package_index.password"),
    ({"index_url": "https://x", "username": "u b", "password_file": "/p"}, "package_index.username"),
    ({"index_url": "https://x", "password_file": "/p"}, "package_index: password_file given without"),
    ({"index_url": "https://x", "username": "u", "password_file": "rel"}, "package_index.password_file"),
    ({"index_url": "https://x", "ca_bundle_file": "ca.pem"}, "package_index.ca_bundle_file"),
    ({"index_url": "https://x", "colour": 1}, "package_index: unknown keys"),
    ({"index_url": "https://x", "conda": {"channel_alias": "x"}}, "package_index.conda.channel_alias"),
    ({"index_url": "https://x", "roles": {"r": {"index_url": "bad"}}}, "package_index.roles['r'].index_url"),
    ({"index_url": "https://x", "roles": {"r": "bad"}}, "package_index.roles['r']"),
])
def test_bad_config_names_the_setting(raw, setting):
    with pytest.raises(ConfigError) as e:
        package_index_from_config(raw)
    assert setting in str(e.value)


def test_error_messages_never_echo_a_password():
    settings = package_index_from_config(BASE).for_role(None)
    with pytest.raises(ConfigError) as e:
        render_delivery(settings, "bad pw", None)
    assert "bad pw" not in str(e.value)


def test_password_read_from_file_is_checked():
    settings = package_index_from_config(BASE).for_role(None)
    with pytest.raises(ConfigError, match="password_file"):
        render_delivery(settings, "two words", None)
    with pytest.raises(ConfigError, match="no password"):
        render_delivery(settings, None, None)
