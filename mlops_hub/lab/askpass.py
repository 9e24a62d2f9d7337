"""Hand a token to git through GIT_ASKPASS: the token lives only in the child's environment.

The helper script holds no secret; it echoes environment variables git's child inherits.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading

_SCRIPT = """#!/bin/sh
# mlops-hub askpass: git calls this with its prompt; answers come from the environment
case "$1" in
  Username*) printf '%s\\n' "$MLOPS_HUB_GIT_USERNAME" ;;
  *) printf '%s\\n' "$MLOPS_HUB_GIT_PASSWORD" ;;
esac
"""
_lock = threading.Lock()
_path: str | None = None


def askpass_script() -> str:
    """Path of the helper script, written once per process into a private directory."""
    global _path
    with _lock:
        if _path is None or not os.path.exists(_path):
            folder = tempfile.mkdtemp(prefix="mlops-hub-askpass-")
            path = os.path.join(folder, "askpass.sh")
            with open(path, "w") as f:
                f.write(_SCRIPT)
            os.chmod(path, stat.S_IRWXU)
            _path = path
        return _path


def git_auth_env(token: str, username: str = "oauth2") -> dict[str, str]:
    """Environment for one git child process that authenticates over HTTPS with `token`.

    GitLab accepts any user name with a personal access token and `oauth2` with an
    OAuth token, so `oauth2` works for both.
    """
    env = dict(os.environ)
    env.update(
        GIT_ASKPASS=askpass_script(),
        MLOPS_HUB_GIT_USERNAME=username,
        MLOPS_HUB_GIT_PASSWORD=token,
        GIT_TERMINAL_PROMPT="0",
    )
    env.pop("SSH_ASKPASS", None)
    return env


# `-c` options for git commands that use git_auth_env: no credential helper may store
# or offer a token, so only our askpass answers and nothing is written to disk
NO_CREDENTIAL_HELPERS = ["-c", "credential.helper=", "-c", "core.askPass="]
