"""The front door's TLS certificate: the operator's own, or one from a local CA kept on this host.

Without `--tls-cert/--tls-key`, `mlops-hub up` makes a local certificate authority once (its key
never leaves the state directory) and a server certificate it signs for this host's names. People
trust the CA's certificate once (its path is printed); the server certificate is renewed by `up`
when it nears expiry or the names change, without asking anyone to trust anything new.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .shell import DeployError

CA_DAYS = 3650
SERVER_DAYS = 397  # what browsers accept for a server certificate
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path  # the server certificate, then the chain up to (not always including) the root
    key: Path
    ca: Path | None = None  # the local CA people trust; None for the operator's own certificate


def host_names(extra: tuple[str, ...] = ()) -> list[str]:
    """The names a browser may use for this host: loopback, its hostname, and the ones asked for."""
    names = ["localhost", "127.0.0.1", socket.gethostname(), socket.getfqdn(), *extra]
    return list(dict.fromkeys(n for n in names if n))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _subject(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mlops-hub"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ensure_local_ca(ca_dir: Path) -> tuple[Path, Path]:
    """(ca.crt, ca.key) in `ca_dir`, made once; the certificate is public, the key root-only."""
    cert_path, key_path = ca_dir / "ca.crt", ca_dir / "ca.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = _subject(f"mlops-hub local CA ({socket.gethostname()})")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert_path.chmod(0o644)
    return cert_path, key_path


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _needs_new_server_cert(cert_path: Path, names: list[str], ca_cert: x509.Certificate) -> bool:
    if not cert_path.exists():
        return True
    cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (cert.issuer != ca_cert.subject or cert.not_valid_after_utc - _now() < RENEW_BEFORE
            or set(san) != set(_san(names)))


def ensure_local_certificate(ca_dir: Path, out_dir: Path, names: list[str]) -> TlsFiles:
    """A server certificate for `names` signed by the local CA (renewed when due or the names changed)."""
    ca_cert_path, ca_key_path = ensure_local_ca(ca_dir)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    cert_path, key_path = out_dir / "tls.crt", out_dir / "tls.key"
    if _needs_new_server_cert(cert_path, names, ca_cert) or not key_path.exists():
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(_subject(names[0])).issuer_name(ca_cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(_now() - dt.timedelta(minutes=5))
                .not_valid_after(_now() + dt.timedelta(days=SERVER_DAYS))
                .add_extension(_san(names), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        _write_private(key_path, _key_pem(key))
        # the chain a client needs: the server certificate, then the CA's
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM) + ca_cert_path.read_bytes())
    return TlsFiles(cert_path, key_path, ca_cert_path)


def given_certificate(cert: Path, key: Path) -> TlsFiles:
    """The operator's certificate and key (`--tls-cert/--tls-key`), checked to be a matching pair."""
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        if not path.is_file():
            raise DeployError(f"{flag}: {path} is not a file")
    try:
        certs = x509.load_pem_x509_certificates(cert.read_bytes())
    except ValueError:
        raise DeployError(f"--tls-cert: {cert} holds no PEM certificate") from None
    try:
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise DeployError(f"--tls-key: {key} is not an unencrypted PEM private key") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if (certs[0].public_key().public_bytes(serialization.Encoding.PEM, spki)
            != private.public_key().public_bytes(serialization.Encoding.PEM, spki)):
        raise DeployError(f"--tls-key: {key} does not belong to the certificate in {cert}")
    if certs[0].not_valid_after_utc <= _now():
        raise DeployError(f"--tls-cert: {cert} expired on {certs[0].not_valid_after_utc:%Y-%m-%d}")
    return TlsFiles(cert, key)


def certificate_expiry(cert_path: Path) -> dt.datetime:
    """When the (first) certificate in a PEM file stops being valid."""
    return x509.load_pem_x509_certificates(cert_path.read_bytes())[0].not_valid_after_utc


def expiry_line(cert_path: Path) -> str:
    return expiry_text(certificate_expiry(cert_path))


def expiry_text(expires: dt.datetime) -> str:
    """'valid until 2027-12-03 10:00 UTC (365 days)', or a warning when it is near or past."""
    days = (expires - _now()).days
    when = f"{expires:%Y-%m-%d %H:%M} UTC"
    if days < 0:
        return f"EXPIRED on {when}: run `mlops-hub up` again (or give a new --tls-cert/--tls-key)"
    warning = " - renew soon" if expires - _now() < RENEW_BEFORE else ""
    return f"valid until {when} ({days} days){warning}"


def spki_sha256(cert_path: Path) -> str:
    """Base64 SHA-256 of a certificate's public key (what certificate pinning, e.g. Chromium's
    --ignore-certificate-errors-spki-list, names a key by)."""
    cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return base64.b64encode(digest.finalize()).decode()
