"""The front door's certificate: a local CA made once, server certificates renewed when due, and the
operator's own pair checked before anything is deployed."""

from __future__ import annotations

import datetime as dt
import ssl
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mlops_hub.deploy import tls
from mlops_hub.deploy.shell import DeployError


def test_the_local_ca_is_made_once_with_a_private_key_only_root_reads(tmp_path):
    cert, key = tls.ensure_local_ca(tmp_path / "ca")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.stat().st_mode) == 0o644
    first = cert.read_bytes()
    assert tls.ensure_local_ca(tmp_path / "ca") == (cert, key)
    assert cert.read_bytes() == first  # trusted once: never replaced behind people's backs
    ca = x509.load_pem_x509_certificate(first)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_the_server_certificate_verifies_against_the_ca_for_every_name(tmp_path):
    files = tls.ensure_local_certificate(tmp_path / "ca", tmp_path / "tls", ["localhost", "127.0.0.1", "hub.example"])
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    chain = x509.load_pem_x509_certificates(files.cert.read_bytes())
    assert len(chain) == 2  # the server certificate, then the CA's
    context = ssl.create_default_context(cafile=str(files.ca))
    context.load_cert_chain(files.cert, files.key)  # the key matches the certificate
    san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "hub.example"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    chain[0].verify_directly_issued_by(chain[1])


def test_the_server_certificate_is_kept_until_the_names_change(tmp_path):
    names = ["localhost", "127.0.0.1"]
    first = tls.ensure_local_certificate(tmp_path / "ca", tmp_path / "tls", names).cert.read_bytes()
    assert tls.ensure_local_certificate(tmp_path / "ca", tmp_path / "tls", names).cert.read_bytes() == first
    again = tls.ensure_local_certificate(tmp_path / "ca", tmp_path / "tls", [*names, "new.example"])
    assert again.cert.read_bytes() != first
    assert tls.ensure_local_ca(tmp_path / "ca")[0] == again.ca  # the same CA: nothing new to trust


def _self_signed(tmp_path, days: int, name: str = "edge"):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=400))
            .not_valid_after(now + dt.timedelta(days=days))
            .sign(key, tls.hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_the_operators_certificate_is_checked_naming_the_flag(tmp_path):
    cert, key = _self_signed(tmp_path, 90)
    assert tls.given_certificate(cert, key) == tls.TlsFiles(cert, key)
    _, other_key = _self_signed(tmp_path, 90, "other")
    with pytest.raises(DeployError, match=r"^--tls-key: .*other.key does not belong to the certificate"):
        tls.given_certificate(cert, other_key)
    with pytest.raises(DeployError, match=r"^--tls-cert: .* holds no PEM certificate"):
        tls.given_certificate(key, key)
    with pytest.raises(DeployError, match=r"^--tls-key: .* is not an unencrypted PEM private key"):
        tls.given_certificate(cert, cert)
    old_cert, old_key = _self_signed(tmp_path, -1, "old")
    with pytest.raises(DeployError, match=r"^--tls-cert: .*old.crt expired on "):
        tls.given_certificate(old_cert, old_key)
    with pytest.raises(DeployError, match=r"^--tls-cert: .*missing.crt is not a file"):
        tls.given_certificate(tmp_path / "missing.crt", key)


def test_expiry_is_said_in_days_with_a_warning_when_near(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    assert tls.expiry_text(now + dt.timedelta(days=200, hours=1)).endswith("(200 days)")
    assert tls.expiry_text(now + dt.timedelta(days=10, hours=1)).endswith("(10 days) - renew soon")
    assert tls.expiry_text(now - dt.timedelta(days=2)).startswith("EXPIRED on ")
    cert, _ = _self_signed(tmp_path, 90)
    assert tls.expiry_line(cert).endswith("(89 days)") or tls.expiry_line(cert).endswith("(90 days)")
