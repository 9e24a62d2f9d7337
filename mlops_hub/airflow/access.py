"""Who may do what in Airflow: the rules of the platform's auth manager, without Airflow (so they are
tested on their own; mlops_hub/airflow/auth_manager.py applies them inside Airflow's api-server).

- The edge (nginx) names the person on every request it forwards, `X-Mlops-User` (percent-encoded
  UTF-8) and `X-Mlops-Admin`, overwriting what a client sent (docs/front-door.md).
- A token used through the edge must be that person's, with the admin flag the hub gives them now.
- A person may use the DAGs whose spec file (`jobs/<dag_id>.json`) names them as `owner`; hub admins
  and the hub's own identity (`mlops-hub`) everything.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from ..names import EDGE_ADMIN_HEADER, EDGE_USER_HEADER

HUB_IDENTITY = "mlops-hub"  # the hub's own Airflow user (an admin); no person may log in so named
MAX_NAME = 255
# a DAG id looked up as a file name: Airflow's own characters (letters, digits, - . _), never a path
DAG_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}")
# views and menu entries a person sees; everything else (configuration, providers, plugins, jobs,
# cluster activity, connections, pools, variables, assets) is for admins
PERSON_VIEWS = frozenset({"WEBSITE", "DOCS"})
PERSON_MENU = frozenset({"Dags", "Docs"})


@dataclass(frozen=True)
class Identity:
    """A hub user as the edge named them, or the hub itself (`service`)."""

    name: str
    admin: bool = False
    service: bool = False

    @property
    def is_admin(self) -> bool:
        return self.admin or self.service


class EdgeHeaderError(ValueError):
    """A malformed identity header: the edge never sends one, so the request is refused."""


def edge_identity(headers: Any) -> tuple[str, bool] | None:
    """(user, admin) from the edge's headers; None without them. `headers`: a case-insensitive mapping
    with .get(). The name must be exactly quote(name, safe="") of a sane name, as the login check sends it."""
    raw = headers.get(EDGE_USER_HEADER)
    if raw is None:
        return None
    try:
        name = unquote(raw, errors="strict")
    except UnicodeDecodeError as e:
        raise EdgeHeaderError(f"{EDGE_USER_HEADER}: not UTF-8") from e
    if (not name or len(name) > MAX_NAME or quote(name, safe="") != raw or name != name.strip()
            or any(ord(c) < 32 or ord(c) == 127 for c in name)):
        raise EdgeHeaderError(f"{EDGE_USER_HEADER}: malformed")
    admin = headers.get(EDGE_ADMIN_HEADER)
    if admin not in ("true", "false"):
        raise EdgeHeaderError(f"{EDGE_ADMIN_HEADER}: must be true or false")
    return name, admin == "true"


def token_matches_edge(user: Identity, identity: tuple[str, bool] | None) -> bool:
    """Through the edge only a token of the person the edge named, with their current admin flag (a
    token cookie of user A left in a browser where B is now logged in never acts as A; a demoted admin's
    token stops working). Inside the stack (no edge identity) a token stands for itself."""
    if identity is None:
        return True
    name, admin = identity
    return not user.service and user.name == name and user.admin == admin


class SpecOwners:
    """`owner` of `<jobs_dir>/<dag_id>.json` (the hub's job spec), re-read when the file changes."""

    def __init__(self, jobs_dir: str | Path):
        self.jobs_dir = Path(jobs_dir)
        self._cache: dict[str, tuple[tuple[int, int, int], str | None]] = {}

    def owner(self, dag_id: str | None) -> str | None:
        if not dag_id or not DAG_ID.fullmatch(dag_id):
            return None
        path = self.jobs_dir / f"{dag_id}.json"
        try:
            st = path.stat()
        except OSError:
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)  # a rewrite (new file or new content) is seen
        cached = self._cache.get(dag_id)
        if cached and cached[0] == key:
            return cached[1]
        try:
            owner = json.loads(path.read_text(encoding="utf-8")).get("owner")
        except (OSError, ValueError, AttributeError):
            owner = None
        owner = owner if isinstance(owner, str) and owner else None
        self._cache[dag_id] = (key, owner)
        return owner


def may_use_dag(user: Identity, method: str, owner: str | None, dag_id: str | None,
                access_entity: Any = None) -> bool:
    """Admins: everything. A person: their own DAGs and what belongs to them (runs, task instances,
    logs, ...); a list (no DAG id) is allowed for reading and filtered per DAG; deleting a DAG itself is
    the hub's (it removes the job's files, or the DAG would come back)."""
    if user.is_admin:
        return True
    if dag_id is None:
        return str(method) == "GET"
    if owner is None or owner != user.name:
        return False
    return not (access_entity is None and str(method) == "DELETE")


def hub_password_ok(password_file: Path, username: str, password: str) -> bool:
    """The hub's identity: its name and the airflow_hub_password secret (compared in constant time)."""
    try:
        expected = password_file.read_text().strip()
    except OSError:
        return False
    return bool(expected) and username == HUB_IDENTITY and hmac.compare_digest(password.encode(), expected.encode())


def safe_next(next_url: str | None, home: str) -> str:
    """After the login, back to a page of Airflow's own (under `home`), never to another site."""
    if not next_url:
        return home
    if next_url.startswith(("//", "\\")) or "\\" in next_url:
        return home
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or not parts.path.startswith(home):
        return home
    return next_url
