"""A minimal wheel built in memory, for the tests that serve one from a real package index."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile

PROBE = "mlops_ix3_probe"
MARK = "served-by-the-test-index"


def build_wheel(name: str = PROBE, version: str = "0.1") -> tuple[str, bytes]:
    """A minimal pure-Python wheel (PEP 427), written with zipfile: no build backend needed."""
    dist = f"{name}-{version}"
    files = {
        f"{name}/__init__.py": f"MARK = {MARK!r}\n".encode(),
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: mlops-hub-tests\n"
                                   b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return f"{dist}-py3-none-any.whl", buffer.getvalue()
