"""Start the Node OpenID Provider (npm `oidc-provider`, installed on first use into .state/)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.support.ports import free_port, wait_for_http

REPO = Path(__file__).resolve().parents[2]
NODE_DIR = REPO / ".state" / "oidc-provider"  # gitignored
VERSION = "9.13.3"


def ensure_installed() -> Path:
    if not (NODE_DIR / "node_modules" / "oidc-provider" / "package.json").exists():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        (NODE_DIR / "package.json").write_text('{"name": "mlops-test-oidc", "private": true, "type": "module"}')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", f"oidc-provider@{VERSION}"], cwd=NODE_DIR,
                       check=True, capture_output=True, timeout=600)
    script = NODE_DIR / "provider.mjs"
    shutil.copyfile(Path(__file__).parent / "provider.mjs", script)  # resolves oidc-provider from there
    return script


class OpenIDProvider:
    def __init__(self, redirect_uri: str, accounts: dict, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self.client_id = "mlops-hub"
        self.dir = Path(tempfile.mkdtemp(prefix="mlops-oidc-"))
        self.secret_file = self.dir / "client_secret"
        self.secret_file.write_text(secrets.token_urlsafe(24))
        self.secret_file.chmod(0o600)
        self.settings = {"host": host, "port": self.port, "client_id": self.client_id,
                         "client_secret_file": str(self.secret_file), "redirect_uri": redirect_uri,
                         "accounts": accounts, "cookie_key": secrets.token_hex(16)}
        self.proc: subprocess.Popen | None = None

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> OpenIDProvider:
        script = ensure_installed()
        self.log = open(self.dir / "provider.log", "wb")
        self.proc = subprocess.Popen(["node", str(script), json.dumps(self.settings)], cwd=NODE_DIR,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_http(f"{self.issuer}/.well-known/openid-configuration", timeout=30, proc=self.proc)
        return self

    def logs(self) -> str:
        return (self.dir / "provider.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
