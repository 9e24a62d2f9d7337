"""A scheduled notebook's request: every field checked, every error naming its field."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mlops_hub.policy.errors import SpawnOptionError
from mlops_hub.policy.jobs import (
    check_notebook_path,
    check_parameters,
    check_schedule,
    check_start_date,
    job_id,
    output_folder,
    validate_job,
)

NOW = datetime(2026, 12, 2, 14, 30, 45, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["0 3 * * *", "*/15 * * * *", "0 0 1 JAN,jul *", "30 8-18/2 * * MON-FRI",
                                  "0 0 * * 7", "5,10,15 0 1-31 1-12 0-6", "@daily", "@once", "  0  3 * *  * "])
def test_cron_expressions_and_presets_are_accepted(text):
    assert check_schedule(text) == " ".join(text.split())


@pytest.mark.parametrize(("text", "why"), [
    ("0 3 * *", "has 4 fields"), ("61 * * * *", "minute field '61': 61 is outside 0-59"),
    ("0 24 * * *", "hour field"), ("0 0 0 * *", "day of month field"), ("0 0 * 13 *", "month field"),
    ("0 0 * * 8", "day of week field"), ("*/0 * * * *", "step '0'"), ("5-1 * * * *", "ends before it starts"),
    ("@continuous", "is not a preset"), ("@sometimes", "is not a preset"), ("x * * * *", "'x' is not a number"),
])
def test_bad_schedules_name_the_field_and_the_reason(text, why):
    with pytest.raises(SpawnOptionError) as e:
        check_schedule(text)
    assert e.value.field == "schedule" and why in e.value.message


def test_no_schedule_means_trigger_only():
    assert check_schedule(None) is None and check_schedule("") is None
    with pytest.raises(SpawnOptionError, match="got int"):
        check_schedule(5)


@pytest.mark.parametrize("path", ["/home/jovyan/a.ipynb", "../b.ipynb", "a/../../b.ipynb", "a/./b.ipynb",
                                  "~/a.ipynb", "a//b.ipynb", "a\\b.ipynb", "a.py", "", "   ", "x/runs/a.ipynb",
                                  "a\nb.ipynb"])
def test_notebook_paths_outside_the_home_or_not_notebooks_are_refused(path):
    with pytest.raises(SpawnOptionError) as e:
        check_notebook_path(path)
    assert e.value.field == "notebook"


def test_a_notebook_path_in_the_home_is_kept_as_given():
    assert check_notebook_path("project/ünïcode train.ipynb") == "project/ünïcode train.ipynb"
    assert output_folder("project/train.ipynb") == "project/runs"
    assert output_folder("train.ipynb") == "runs"


def test_parameters_are_a_json_object_of_python_names():
    assert check_parameters('{"alpha": 0.5, "names": ["a"]}') == {"alpha": 0.5, "names": ["a"]}
    assert check_parameters(None) == {}
    for bad, why in [("{not json", "is not JSON"), ("[1, 2]", "expected a JSON object"),
                     ({"1x": 1}, "'1x' is not a Python variable name"), ({"a-b": 1}, "not a Python variable"),
                     ({"x": float("nan")}, "values must be JSON"), ({"x": "y" * 70000}, "larger than 64 KB")]:
        with pytest.raises(SpawnOptionError) as e:
            check_parameters(bad)
        assert e.value.field == "parameters" and why in e.value.message


def test_start_date_defaults_to_now_and_reads_iso_dates_as_utc():
    assert check_start_date(None, NOW) == datetime(2026, 12, 2, 14, 30, tzinfo=timezone.utc)
    assert check_start_date("2027-01-31", NOW) == datetime(2027, 1, 31, tzinfo=timezone.utc)
    assert check_start_date("2027-01-31T03:00:00+03:00", NOW) == datetime(2027, 1, 31, 0, tzinfo=timezone.utc)
    for bad in ["tomorrow", "2027-13-01", 20270101, "1990-01-01"]:
        with pytest.raises(SpawnOptionError) as e:
            check_start_date(bad, NOW)
        assert e.value.field == "start_date"


def test_validate_job_splits_schedule_from_size_and_refuses_unknown_fields():
    schedule, size = validate_job({"notebook": "a.ipynb", "schedule": "@hourly", "retries": 2,
                                   "parameters": {"n": 1}, "environment": "python", "cpu_limit": 0.5}, NOW)
    assert (schedule.notebook, schedule.schedule, schedule.retries, schedule.parameters) == \
        ("a.ipynb", "@hourly", 2, {"n": 1})
    assert size == {"environment": "python", "cpu_limit": 0.5}
    for body, field in [({"notebook": "a.ipynb", "image": "x"}, "image"), ({"notebook": "a.ipynb", "retries": 9},
                        "retries"), ({"notebook": "a.ipynb", "paused": "yes"}, "paused"), ([], "body"),
                        ({"notebook": "a.ipynb", "retries": True}, "retries")]:
        with pytest.raises(SpawnOptionError) as e:
            validate_job(body, NOW)
        assert e.value.field == field


def test_job_ids_are_stable_ascii_and_never_shared_by_two_users_or_notebooks():
    a = job_id("alice", "p/train.ipynb")
    assert a == job_id("alice", "p/train.ipynb")
    assert a.startswith("nb__alice__train__") and a.isascii()
    others = {job_id("alice", "q/train.ipynb"), job_id("alice.x", "p/train.ipynb"), job_id("alice_x", "p/train.ipynb"),
              job_id("Алиса", "p/train.ipynb"), job_id("алиса", "p/train.ipynb")}
    assert a not in others and len(others) == 5
    assert all(len(i) < 250 for i in others)
