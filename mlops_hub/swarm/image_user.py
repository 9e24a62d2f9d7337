"""The numeric uid:gid a server runs as, also when the image's USER is a name.

Swarm can only give a secret file to a numeric owner, so a USER like `jovyan` is looked up
in the image's own /etc/passwd and /etc/group, read from a container that is created and
removed but never started. Answers are cached per image id (an image never changes).
"""

from __future__ import annotations

import io
import tarfile

from docker.errors import APIError, NotFound

from ..policy.errors import ConfigError

_ROOT = "0:0"
_cache: dict[tuple[str, str], str] = {}  # filled on the hub's event loop only


def _table(text: str) -> dict[str, list[str]]:
    """name -> fields of an /etc/passwd or /etc/group file."""
    rows = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and not line.startswith("#"):
            rows.setdefault(fields[0], fields)
    return rows


def numeric_user(user: str, passwd: str, group: str) -> str:
    """`user` ('name', 'uid', 'name:group', '' = root) as 'uid:gid', from the image's files."""
    name, _, group_name = (user or "root").partition(":")
    users = _table(passwd)
    if name.isdigit():
        uid = name
        # a uid with no group: its passwd group, as docker does, else the same number
        gid = next((f[3] for f in users.values() if f[2] == uid), uid)
    elif name in users:
        uid, gid = users[name][2], users[name][3]
    else:
        raise ConfigError("run_as_user", f"the image's user {name!r} is not in its /etc/passwd;"
                                         " set run_as_user to a numeric 'uid:gid'")
    if group_name.isdigit():
        gid = group_name
    elif group_name:
        groups = _table(group)
        if group_name not in groups:
            raise ConfigError("run_as_user", f"the image's group {group_name!r} is not in its /etc/group;"
                                             " set run_as_user to a numeric 'uid:gid'")
        gid = groups[group_name][2]
    return f"{uid}:{gid}"


def _is_numeric(user: str) -> bool:
    uid, _, gid = user.partition(":")
    return uid.isdigit() and (gid.isdigit() or not gid)


async def _read_file(docker_call, container: str, path: str) -> str:
    try:
        stream, _ = await docker_call("get_archive", container, path)
    except NotFound:
        return ""
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member is not None else None
        return handle.read().decode("utf8", "replace") if handle is not None else ""


async def image_numeric_user(docker_call, image_id: str, user: str) -> str:
    """'uid:gid' for `user` in `image_id` (Docker I/O only for a named user, once per image)."""
    if user in ("", "root"):  # uid 0 in every image, with or without an /etc/passwd
        return _ROOT
    if _is_numeric(user):
        uid, _, gid = user.partition(":")
        return f"{uid}:{gid or uid}"
    if (image_id, user) in _cache:
        return _cache[(image_id, user)]
    try:
        # never started: the image's files are read from its layers, no command runs
        container = await docker_call("create_container", image_id, command=["true"], entrypoint=[],
                                      network_disabled=True)
    except APIError as e:
        raise ConfigError("run_as_user", f"cannot look up the image's user {user!r}: {e.explanation or e};"
                                         " set run_as_user to a numeric 'uid:gid'") from None
    try:
        found = numeric_user(user, await _read_file(docker_call, container["Id"], "/etc/passwd"),
                             await _read_file(docker_call, container["Id"], "/etc/group"))
    finally:
        await docker_call("remove_container", container["Id"], force=True)
    _cache[(image_id, user)] = found
    return found
