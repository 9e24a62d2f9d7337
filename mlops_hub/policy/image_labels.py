"""What an environment image says about itself in its labels (written by `mlops-hub build`)."""

from __future__ import annotations

import json
from collections.abc import Mapping

# a JSON object: package name -> installed version, in the order the spawn form shows them
PACKAGES_LABEL = "org.mlops-hub.packages"


def packages_from_labels(labels: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """The image's main packages as (name, version) pairs; () when the label is missing or not a JSON
    object. Entries whose name or version is not a string are left out. Never raises."""
    raw = (labels or {}).get(PACKAGES_LABEL)
    if not isinstance(raw, str):
        return ()
    try:
        packages = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested beyond the parser's depth
        return ()
    if not isinstance(packages, dict):
        return ()
    return tuple((name, version) for name, version in packages.items()
                 if isinstance(name, str) and isinstance(version, str) and name.strip() and version.strip())
