"""Find the notebook a kernel runs for, so runs name it instead of `ipykernel_launcher`."""

from __future__ import annotations

import os
from pathlib import Path


def _session_name() -> str | None:
    # jupyter-server puts the session's path in the kernel's environment ...
    name = os.environ.get("JPY_SESSION_NAME")
    if name:
        return name
    # ... and ipykernel copies it to `__session__` in the user namespace
    try:
        from IPython import get_ipython  # type: ignore[attr-defined]
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None:
        return None
    value = shell.user_ns.get("__session__")
    return value if isinstance(value, str) and value else None


def current_notebook_path(cwd: str | os.PathLike[str] | None = None) -> Path | None:
    """Absolute path of this kernel's notebook, or None outside a jupyter-server session.

    jupyter-server sets JPY_SESSION_NAME to an absolute path when the client names the
    file (JupyterLab does), else to the API path relative to the server root. The kernel's
    working directory is the notebook's folder, which resolves the relative form.
    """
    name = _session_name()
    if not name:
        return None
    p = Path(name)
    if p.is_absolute():
        return p
    here = Path(cwd or os.getcwd()).resolve()
    parent = p.parent
    if parent == Path("."):
        return here / p.name
    # the cwd ends with the notebook's API folder; what is left of it is the server root
    if here.parts[-len(parent.parts):] == parent.parts:
        return here / p.name
    return (here / p).resolve()
