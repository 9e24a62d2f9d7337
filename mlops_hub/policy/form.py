"""Turn the options form's post into the same `user_options` the REST API takes."""

from __future__ import annotations

import re

from .request import OPTION_KEYS

_BARE_NUMBER = re.compile(r"^\s*[0-9]*\.?[0-9]+\s*$")


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
