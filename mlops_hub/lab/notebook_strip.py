"""Notebook content without outputs, for commits that should hold code, not results."""

from __future__ import annotations

import nbformat


def strip_outputs(raw: bytes) -> bytes:
    """`raw` notebook JSON with code-cell outputs and execution counts removed."""
    nb = nbformat.reads(raw.decode("utf-8"), as_version=nbformat.NO_CONVERT)
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            cell.get("metadata", {}).pop("execution", None)
    nb.metadata.pop("widgets", None)
    return (nbformat.writes(nb) + "\n").encode("utf-8")
