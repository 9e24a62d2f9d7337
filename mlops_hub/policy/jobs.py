"""A scheduled notebook's request, checked: notebook path, schedule, start date, retries, parameters.

Pure: the size (environment, CPU, RAM) is checked by policy.request, as for a spawn, and the hub
turns the result into a job spec (mlops_hub.airflow.job_spec). Every error names its field.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath

from .errors import SpawnOptionError
from .request import OPTION_KEYS

JOB_KEYS = ("notebook", "schedule", "start_date", "retries", "parameters", "paused") + OPTION_KEYS
# Airflow's presets, without @continuous (a notebook run back to back would hold its pool forever)
PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
MAX_RETRIES = 5
MAX_PATH = 1024
MAX_PARAMETERS_BYTES = 64 * 1024
RUNS_FOLDER = "runs"  # executed notebooks land next to their source, in this folder

# one cron field: names and numbers, lists, ranges and steps
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day of week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


@dataclass(frozen=True)
class JobSchedule:
    """When a notebook runs: a cron expression or preset (None: only when triggered)."""

    notebook: str  # relative to the user's home, POSIX
    schedule: str | None
    start_date: datetime  # UTC
    retries: int
    parameters: dict = field(default_factory=dict)
    paused: bool = False


def _cron_value(text: str, low: int, high: int, names: tuple[str, ...], offset: int) -> int:
    if text.upper() in names:
        return names.index(text.upper()) + offset
    if not text.isdigit():
        raise ValueError(f"{text[:20]!r} is not a number" + (f" or one of {', '.join(names)}" if names else ""))
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{value} is outside {low}-{high}")
    return value


def _check_cron_field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> None:
    offset = low if name == "month" else 0
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or not 1 <= int(step) <= high):
            raise ValueError(f"step {step[:20]!r} must be a number from 1 to {high}")
        if base == "*":
            continue
        first, dash, last = base.partition("-")
        start = _cron_value(first, low, high, names, offset)
        if dash and _cron_value(last, low, high, names, offset) < start:
            raise ValueError(f"range {base[:20]!r} ends before it starts")


def check_schedule(raw: object) -> str | None:
    """A cron expression (5 fields) or one of PRESETS; None or "" for trigger-only jobs."""
    if raw is None or raw == "":
        return None
    allowed = f"a cron expression such as '0 3 * * *' or one of {', '.join(PRESETS)}"
    if not isinstance(raw, str):
        raise SpawnOptionError("schedule", f"expected {allowed}; got {type(raw).__name__}")
    text = " ".join(raw.split())
    if text.startswith("@"):
        if text not in PRESETS:
            raise SpawnOptionError("schedule", f"{text[:40]!r} is not a preset; expected {allowed}")
        return text
    fields = text.split(" ")
    if len(fields) != 5:
        raise SpawnOptionError("schedule", f"{text[:60]!r} has {len(fields)} fields, a cron expression has 5"
                                           " (minute hour day-of-month month day-of-week)")
    for value, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        try:
            _check_cron_field(value, name, low, high, names)
        except ValueError as e:
            raise SpawnOptionError("schedule", f"{name} field {value[:20]!r}: {e}") from None
    return text


def check_notebook_path(raw: object) -> str:
    """A notebook in the user's home: relative, no '..', a .ipynb file not inside a runs/ folder."""
    if not isinstance(raw, str) or not raw.strip():
        raise SpawnOptionError("notebook", "expected the notebook's path in your home, e.g. 'project/train.ipynb'")
    if len(raw) > MAX_PATH or any(ord(c) < 32 for c in raw):
        raise SpawnOptionError("notebook", f"must be at most {MAX_PATH} printable characters")
    path = PurePosixPath(raw)
    if path.is_absolute() or raw.startswith("~"):
        raise SpawnOptionError("notebook", "must be relative to your home folder, not absolute")
    if any(part in ("..", ".") for part in raw.split("/")) or "//" in raw or "\\" in raw:
        raise SpawnOptionError("notebook", "must stay inside your home folder (no '.', '..', '\\' or '//')")
    if path.suffix != ".ipynb":
        raise SpawnOptionError("notebook", f"{path.name[:60]!r} is not a notebook (.ipynb)")
    if RUNS_FOLDER in path.parts[:-1]:
        raise SpawnOptionError("notebook", f"is an executed copy in a {RUNS_FOLDER}/ folder; schedule its source")
    return str(path)


def check_parameters(raw: object, field_name: str = "parameters") -> dict:
    """papermill parameters: a JSON object whose keys are Python names."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as e:
            raise SpawnOptionError(field_name, f"is not JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(raw, Mapping):
        raise SpawnOptionError(field_name, f"expected a JSON object of name: value; got {type(raw).__name__}")
    bad = sorted(str(k)[:40] for k in raw if not isinstance(k, str) or not _PARAMETER_NAME.fullmatch(k))
    if bad:
        raise SpawnOptionError(field_name, f"{bad[0]!r} is not a Python variable name")
    try:
        text = json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise SpawnOptionError(field_name, f"values must be JSON (numbers, strings, lists, objects): {e}") from None
    if len(text.encode()) > MAX_PARAMETERS_BYTES:
        raise SpawnOptionError(field_name, f"is larger than {MAX_PARAMETERS_BYTES // 1024} KB of JSON")
    return json.loads(text)


def check_start_date(raw: object, now: datetime) -> datetime:
    """ISO 8601 date or time (UTC when no zone is given); default: now, to the minute."""
    if raw is None or raw == "":
        return now.astimezone(timezone.utc).replace(second=0, microsecond=0)
    if not isinstance(raw, str):
        raise SpawnOptionError("start_date", f"expected an ISO 8601 date such as '2027-01-31' or"
                                             f" '2027-01-31T03:00:00Z'; got {type(raw).__name__}")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SpawnOptionError("start_date", f"{raw[:40]!r} is not an ISO 8601 date such as '2027-01-31'"
                                             " or '2027-01-31T03:00:00Z'") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    if value < now - timedelta(days=366 * 10) or value > now + timedelta(days=366 * 10):
        raise SpawnOptionError("start_date", "must be within ten years of today")
    return value


def check_retries(raw: object) -> int:
    if raw is None or raw == "":
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_RETRIES:
        raise SpawnOptionError("retries", f"expected a whole number from 0 to {MAX_RETRIES}")
    return raw


def check_paused(raw: object) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, bool):
        raise SpawnOptionError("paused", "expected true or false")
    return raw


def validate_job(body: object, now: datetime) -> tuple[JobSchedule, dict]:
    """The schedule part of a request, and its size options (checked by policy.request as a spawn)."""
    if not isinstance(body, Mapping):
        raise SpawnOptionError("body", f"expected a JSON object with keys {', '.join(JOB_KEYS)}")
    unknown = sorted(str(k)[:40] for k in body if k not in JOB_KEYS)
    if unknown:
        raise SpawnOptionError(unknown[0], f"unknown field; allowed: {', '.join(JOB_KEYS)}")
    schedule = JobSchedule(
        notebook=check_notebook_path(body.get("notebook")),
        schedule=check_schedule(body.get("schedule")),
        start_date=check_start_date(body.get("start_date"), now),
        retries=check_retries(body.get("retries")),
        parameters=check_parameters(body.get("parameters")),
        paused=check_paused(body.get("paused")),
    )
    return schedule, {k: body[k] for k in OPTION_KEYS if k in body}


def _slug(text: str, limit: int) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:limit].strip("_") or "x"


def job_id(user: str, notebook: str) -> str:
    """The DAG id of (user, notebook): stable, ASCII, readable; the hash keeps different pairs apart."""
    digest = hashlib.sha256(f"{user}\0{notebook}".encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"nb__{_slug(user, 40)}__{_slug(PurePosixPath(notebook).stem, 60)}__{digest}"


def output_folder(notebook: str) -> str:
    """Where the executed copies of a notebook go, relative to the home."""
    return str(PurePosixPath(notebook).parent / RUNS_FOLDER)
