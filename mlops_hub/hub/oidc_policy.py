"""Who a provider's login is, and which hub groups and rights it brings: pure rules, no I/O.

Group names map 1:1. A provider's group path becomes a JupyterHub group name by dropping one
leading '/' (Keycloak's full paths) and writing '/' as '.' - GitLab's `ml/risk-models` is
`ml.risk-models`. So that no other provider group can land on the same name, a '.' or '+' that is
part of a provider's name is escaped with '+': `platform.admins` becomes `platform+.admins`, never
`platform.admins` (which only `platform/admins` gives). `provider_group` undoes the mapping.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ESCAPE = "+"
SEPARATOR = "."
# JupyterHub keeps group and user names in 255-character columns
MAX_NAME = 255


class Refused(ValueError):
    """A provider value the hub will not use; the message says why (safe to log and show)."""


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch)[0] == "C" for ch in text)


def hub_group_name(raw: object) -> str:
    """The JupyterHub group for a provider group; Refused when it cannot be mapped 1:1."""
    if not isinstance(raw, str):
        raise Refused(f"not a string ({type(raw).__name__})")
    if raw != raw.strip() or not raw.strip("/"):
        # trimming would make ' admins' and 'admins' one group
        raise Refused("empty, or blank space at its start or end")
    if _has_control(raw):
        raise Refused("contains control or invisible format characters")
    path = raw[1:] if raw.startswith("/") else raw
    name = "".join(ESCAPE + ch if ch in (ESCAPE, SEPARATOR) else SEPARATOR if ch == "/" else ch for ch in path)
    if len(name) > MAX_NAME:
        raise Refused(f"longer than {MAX_NAME} characters once mapped")
    return name


def provider_group(name: str) -> str:
    """The provider path a hub group name came from (without Keycloak's leading '/')."""
    out, chars = [], iter(name)
    for ch in chars:
        if ch == ESCAPE:
            out.append(next(chars, ""))
        else:
            out.append("/" if ch == SEPARATOR else ch)
    return "".join(out)


def hub_group_names(variable: str, value: str | None) -> frozenset[str]:
    """A comma-separated setting of provider groups as hub group names; errors name the variable."""
    names = set()
    for raw in (value or "").split(","):
        if not raw.strip():
            continue
        try:
            names.add(hub_group_name(raw.strip()))
        except Refused as e:
            raise Refused(f"{variable}: group {raw.strip()!r} cannot be used: {e}") from None
    return frozenset(names)


@dataclass(frozen=True)
class GroupRules:
    """The configured groups (as hub group names) and the hub groups only configuration may fill."""

    admin: frozenset[str] = frozenset()
    quota_managers: frozenset[str] = frozenset()
    quota_manager_group: str = ""  # the hub group holding the quota-manager role ("" = none)
    reserved: frozenset[str] = frozenset()  # role-bearing hub groups (load_roles)


@dataclass
class GroupDecision:
    groups: list[str]
    admin: bool
    refused: dict[str, str] = field(default_factory=dict)  # provider group -> reason


def _claim_values(value: object) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [value]


def decide_groups(claim: object, rules: GroupRules) -> GroupDecision:
    """The user's hub groups and admin flag from the provider's group claim.

    Rights come only from the configured groups: a provider group whose name maps onto a
    role-bearing hub group (e.g. `quota-managers`) is refused, and the quota-manager group is
    added only for members of the configured quota-manager groups.
    """
    refused: dict[str, str] = {}
    by_name: dict[str, list[str]] = {}
    for raw in _claim_values(claim):
        try:
            raws = by_name.setdefault(hub_group_name(raw), [])
            if raw not in raws:
                raws.append(raw)
        except Refused as e:
            refused[repr(raw) if not isinstance(raw, str) else raw] = str(e)
    reserved = rules.reserved | ({rules.quota_manager_group} if rules.quota_manager_group else set())
    groups = set()
    for name, raws in by_name.items():
        if len(raws) > 1:
            # '/team' and 'team' in one claim: two provider names for one hub group
            for raw in raws:
                refused[raw] = f"ambiguous: {', '.join(map(repr, raws))} all map to hub group {name!r}"
        elif name in reserved:
            refused[raws[0]] = (f"maps to {name!r}, a hub group that grants a role; only the configured"
                                " groups may put a user there")
        else:
            groups.add(name)
    if rules.quota_manager_group and groups & rules.quota_managers:
        groups.add(rules.quota_manager_group)
    return GroupDecision(groups=sorted(groups), admin=bool(groups & rules.admin), refused=refused)


def username_from(user_info: Mapping, claim: str) -> str:
    """The hub username from the claim the admin chose; Refused (naming the claim) when unusable."""
    value = user_info.get(claim)
    if value is None or value == "":
        raise Refused(f"the provider sent no {claim!r} claim (MLOPS_OIDC_USERNAME_CLAIM) for this account")
    if not isinstance(value, str):
        raise Refused(f"the {claim!r} claim is not a string")
    if value != value.strip() or _has_control(value) or "/" in value:
        raise Refused(f"the {claim!r} claim has blank space at its ends, control characters or '/'")
    if len(value) > MAX_NAME:
        raise Refused(f"the {claim!r} claim is longer than {MAX_NAME} characters")
    return value


def subject_from(user_info: Mapping) -> str:
    sub = user_info.get("sub")
    if not isinstance(sub, str) or not sub:
        raise Refused("the provider sent no 'sub' claim: the account cannot be told apart from others")
    return sub


def subject_conflict(username: str, bound: tuple[str, str] | None, issuer: str, sub: str) -> str | None:
    """Why a login must be refused when `username` is bound to another subject; None when it may go on."""
    if bound is None or bound == (issuer, sub):
        return None
    return (f"the hub user {username!r} belongs to another account at the identity provider;"
            " ask a hub admin (this login was not merged into it)")


def parse_switch(variable: str, value: str | None) -> bool:
    """An explicit yes/no setting; anything else is an error naming the variable."""
    text = (value or "").strip().lower()
    if text in ("", "0", "false", "no"):
        return False
    if text in ("1", "true", "yes"):
        return True
    raise Refused(f"{variable}: expected 1/true/yes or 0/false/no, got {value!r}")


def role_groups(load_roles: Iterable[Mapping]) -> frozenset[str]:
    """The hub groups that carry a JupyterHub role (from load_roles)."""
    return frozenset(g for role in load_roles for g in (role.get("groups") or ()))
