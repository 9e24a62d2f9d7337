"""Hand a token to git through GIT_ASKPASS without putting it in git's environment or argv.

The helper script holds no secret. For the extension's push the token waits in a pipe
whose read end git inherits (`askpass_pipe`): the helper reads it once, so it is in no
process's environment, no argument list and no file. `git_auth_env` (for scripts and
tests) carries it in the environment instead.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import InvalidInput

_SCRIPT = """#!/bin/sh
# mlops-hub askpass: git calls this with its prompt; the answer comes from an inherited
# pipe (read once) or, for scripts, from the environment
case "$1" in
  Username*) printf '%s\\n' "$MLOPS_HUB_GIT_USERNAME" ;;
  # /dev/fd/N, not <&N: dash redirects only fds 0-9
  *) if [ -n "$MLOPS_HUB_GIT_PASSWORD_FD" ]; then cat "/dev/fd/$MLOPS_HUB_GIT_PASSWORD_FD"
     else printf '%s\\n' "$MLOPS_HUB_GIT_PASSWORD"; fi ;;
esac
"""
# a pipe holds at least 4 KiB without a reader (POSIX PIPE_BUF); tokens are far shorter
_MAX_TOKEN = 4096
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


@contextmanager
def askpass_pipe(token: str, username: str = "oauth2") -> Iterator[tuple[dict[str, str], int]]:
    """(environment additions, fd to pass to git) for one git command that authenticates
    over HTTPS with `token`; the fd is closed on exit.

    GitLab accepts any user name with a personal access token and `oauth2` with an
    OAuth token, so `oauth2` works for both.
    """
    data = token.encode() + b"\n"
    if len(data) > _MAX_TOKEN or "\n" in token:
        raise InvalidInput("the GitLab token is malformed (a line break, or over 4 KiB); "
                           "save a GitLab personal access token")
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)  # fits the pipe's buffer: never blocks
    finally:
        os.close(write_end)
    try:
        yield {"GIT_ASKPASS": askpass_script(), "MLOPS_HUB_GIT_USERNAME": username,
               "MLOPS_HUB_GIT_PASSWORD_FD": str(read_end)}, read_end
    finally:
        os.close(read_end)


def git_auth_env(token: str, username: str = "oauth2") -> dict[str, str]:
    """This process's environment plus the token for the askpass helper: for scripts and
    tests that run git themselves. The extension's push uses `askpass_pipe` instead."""
    env = dict(os.environ, GIT_ASKPASS=askpass_script(), MLOPS_HUB_GIT_USERNAME=username,
               MLOPS_HUB_GIT_PASSWORD=token, GIT_TERMINAL_PROMPT="0")
    env.pop("SSH_ASKPASS", None)
    env.pop("MLOPS_HUB_GIT_PASSWORD_FD", None)
    return env
