"""Can an environment image run as a user server? The faults a site's own image can have, from its Config.

Pure: `docker inspect`'s Config of the image, and whether `jupyterhub-singleuser` was found on its PATH,
go in; each fault comes out with what is wrong and the fix (`mlops-hub doctor` and the spawner say them).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NO_SINGLEUSER = "no-singleuser"
ROOT = "root"
WRONG_PORT = "wrong-port"

# the flags that set the port a Jupyter server listens on (--port is ServerApp.port's alias)
_PORT_FLAGS = ("--port", "--ServerApp.port", "--NotebookApp.port")
SINGLEUSER = "jupyterhub-singleuser"
SERVER_USER = "1000:100"  # jovyan:users, the user the platform runs a root image's servers as
LAB_IMAGE = "mlops-hub/lab-base"
NO_SINGLEUSER_FIX = (f"install jupyterhub in the image (pip install jupyterhub), or build it FROM the platform's"
                     f" lab image ({LAB_IMAGE})")
ROOT_FIX = f"end the image's Dockerfile with USER {SERVER_USER} (jovyan)"


@dataclass(frozen=True)
class ImageFault:
    kind: str  # NO_SINGLEUSER, ROOT or WRONG_PORT
    message: str  # what is wrong, to follow "environment 'x' (image y) "
    fix: str


def is_root(user: str | None) -> bool:
    """Docker's USER runs as root: unset, or a uid part of `root` or `0` (whatever the group)."""
    uid = (user or "").strip().partition(":")[0]
    return uid in ("", "root", "0")


def _words(argv: Sequence[str]) -> list[str]:
    """The command's words; an element with spaces (a `sh -c` script) is split as a shell would."""
    words: list[str] = []
    for arg in argv:
        if any(c.isspace() for c in arg):
            try:
                words += shlex.split(arg)
            except ValueError:  # unbalanced quotes: near enough for finding a flag
                words += arg.split()
        else:
            words.append(arg)
    return words


def command_port(argv: Sequence[str]) -> int | None:
    """The port the command's `--port=N`, `--port N`, `--ServerApp.port=N` or `--NotebookApp.port=N` sets
    (the last one wins, as in Jupyter); None when it sets none, or not as a number."""
    words, found = _words(argv), None
    for i, word in enumerate(words):
        flag, equals, value = word.partition("=")
        if flag not in _PORT_FLAGS:
            continue
        if not equals:
            value = words[i + 1] if i + 1 < len(words) else ""
        if value.strip().isdigit():
            found = int(value)
    return found


def exposed_ports(config: Mapping) -> list[int]:
    """The TCP ports the image EXPOSEs ('8888/tcp' keys of Config.ExposedPorts)."""
    ports = []
    for key in config.get("ExposedPorts") or {}:
        number, _, protocol = str(key).partition("/")
        if number.isdigit() and protocol in ("", "tcp"):
            ports.append(int(number))
    return sorted(ports)


def command_of(config: Mapping) -> list[str]:
    """What the image runs: its ENTRYPOINT followed by its CMD."""
    return [str(a) for a in (config.get("Entrypoint") or []) + (config.get("Cmd") or [])]


def wrong_port_fault(argv: Sequence[str], exposed: Sequence[int], port: int) -> ImageFault | None:
    """The command passes another port than the hub's, or the image EXPOSEs ports that do not include it."""
    problems, fixes = [], []
    given = command_port(argv)
    if given is not None and given != port:
        problems.append(f"its command passes port {given}, so the server listens there, but the hub connects"
                        f" on {port}")
        fixes.append("remove the --port flag from the image's ENTRYPOINT/CMD, so the server takes the port the"
                     " hub gives")
    if exposed and port not in exposed:
        shown = ", ".join(str(p) for p in exposed)
        problems.append(f"it EXPOSEs {shown} but not {port}, the port the hub connects on")
        fixes.append(f"EXPOSE {port} in the image's Dockerfile")
    if not problems:
        return None
    return ImageFault(WRONG_PORT, f"wrong port: {'; '.join(problems)}", "; ".join(fixes))


def image_faults(config: Mapping | None, has_singleuser: bool | None, port: int) -> list[ImageFault]:
    """What keeps the image from running as a user server on `port`. `has_singleuser`: whether
    jupyterhub-singleuser is on its PATH (None: not known, so not reported)."""
    config = config or {}
    faults = []
    if has_singleuser is False:
        faults.append(ImageFault(NO_SINGLEUSER, f"no {SINGLEUSER} on its PATH: a server cannot start in it",
                                 NO_SINGLEUSER_FIX))
    user = config.get("User") or ""
    if is_root(user):
        shown = f"USER {user}" if user else "no USER"
        faults.append(ImageFault(ROOT, f"runs as root ({shown}): the platform runs user servers as an unprivileged"
                                       f" user ({SERVER_USER} for such an image), who may not write what root"
                                       " owns in it", ROOT_FIX))
    wrong_port = wrong_port_fault(command_of(config), exposed_ports(config), port)
    if wrong_port is not None:
        faults.append(wrong_port)
    return faults


def missing_singleuser(reason: str, log_tail: str = "") -> bool:
    """A failed start's words say jupyterhub-singleuser is not in the image: Docker's own (the image's
    command run directly), or the shell's that runs it after exporting the hub token."""
    docker_says = "executable file not found" in reason and SINGLEUSER in reason
    shell_says = any(SINGLEUSER in line and "not found" in line for line in log_tail.splitlines())
    return docker_says or shell_says
