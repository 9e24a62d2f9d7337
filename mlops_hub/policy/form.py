"""The spawn options form: rendered from the user's access, and its post turned into `user_options`.

Parsing only builds the dict the REST API also takes; validation happens once, in the spawner's
`apply_user_options` (JupyterHub's contract since 5.3).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from jinja2 import Environment as JinjaEnvironment
from jinja2 import FileSystemLoader, select_autoescape

from .placement import labels_text
from .pools import Headroom
from .request import OPTION_KEYS, SpawnRequest
from .roles import UserAccess
from .units import MIN_CPU, MIN_MEM, format_cpu, format_memory, format_number

_BARE_NUMBER = re.compile(r"^\s*[0-9]*\.?[0-9]+\s*$")
_jinja = JinjaEnvironment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                          autoescape=select_autoescape())


def user_options_from_form(formdata: dict[str, list[str]]) -> dict[str, str]:
    """Form fields carry one value each; memory is typed in GiB, so a bare number gets 'G'.

    Unknown fields are passed through so validation names them, exactly as for the API.
    """
    options: dict[str, str] = {}
    for key, values in formdata.items():
        if key == "_xsrf" or not values:
            continue
        value = values[0].strip()
        if key == "mem_limit" and _BARE_NUMBER.match(value):
            value = f"{value}G"
        options[key] = value
    return {k: v for k, v in options.items() if k in OPTION_KEYS or v != ""}


def _floor3(value: float) -> str:
    """Rounded down to 3 decimals: a bound shown on the form must itself pass validation."""
    return format_number(math.floor(value * 1000) / 1000)


def _ceil3(value: float) -> str:
    """Rounded up to 3 decimals: a lower bound shown on the form must itself pass validation."""
    return format_number(math.ceil(value * 1000) / 1000)


def _gib(size: int, rounding=_floor3) -> str:
    return rounding(size / 1024**3)


def render_options_form(access: UserAccess, selected: SpawnRequest, headroom: Iterable[Headroom] = (),
                        packages: Mapping[str, Sequence[tuple[str, str]]] | None = None, notice: str = "",
                        home: str = "") -> str:
    """The form for this user: environments (with the main packages of each, `packages`: slug -> (name,
    version) pairs, from its image's label), CPU and memory within their limits, team pool room; `home`: the line
    naming the node that holds the user's files (policy/home_node.py), '' for none."""
    min_mem = min((max(MIN_MEM, e.min_mem) for e in access.environments), default=MIN_MEM)
    return _jinja.get_template("options_form.html").render(
        access=access,
        notice=notice,
        home=home,
        max_cpu=_floor3(access.max_cpu),
        max_mem=format_memory(access.max_mem),
        min_cpu=format_cpu(MIN_CPU),
        min_mem_gib=_gib(min_mem, _ceil3),
        max_mem_gib=_gib(access.max_mem),
        fmt_mem=format_memory,
        fmt_labels=labels_text,
        selected={
            "environment": selected.environment.slug,
            "cpu": _floor3(selected.cpu_limit),
            "mem_gib": _gib(selected.mem_limit, _ceil3 if selected.mem_limit <= min_mem else _floor3),
        },
        headroom=[room for room in headroom],
        packages=dict(packages or {}),
    )


def render_refusal(message: str) -> str:
    return _jinja.get_template("refusal.html").render(message=message)
