"""Tests trust the platform's front door as a person does: one local CA, trusted once.

Every test stack's certificate is signed by this CA (StackSettings.ca_dir). Python clients trust it
through a bundle (the host's CAs plus this one); Chromium trusts certificates chained to its key.
Certificates are still checked: a stack serving any other certificate fails the tests.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mlops_hub.deploy.tls import ensure_local_ca, spki_sha256

CA_DIR = Path(os.environ.get("MLOPS_TEST_CA_DIR", Path(tempfile.gettempdir()) / "mlops-hub-test-ca"))
HOST_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def ca_cert() -> Path:
    return ensure_local_ca(CA_DIR)[0]


def trust_in_this_process() -> Path:
    """requests, urllib and tornado clients of this process trust the test CA (and the host's CAs)."""
    bundle = CA_DIR / "bundle.pem"
    host = HOST_BUNDLE.read_bytes() if HOST_BUNDLE.exists() else b""
    # written aside and renamed: another test or bench process may be reading the bundle right now
    fresh = CA_DIR / f"bundle.{os.getpid()}.tmp"
    fresh.write_bytes(host + b"\n" + ca_cert().read_bytes())
    fresh.replace(bundle)
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = str(bundle)
    return bundle


def chromium_args() -> list[str]:
    """Chromium accepts a chain holding a certificate with this key (the CA's: edges send it along)."""
    return [f"--ignore-certificate-errors-spki-list={spki_sha256(ca_cert())}"]
