"""The lab's jobs endpoints pass the panel's paging on to the hub's jobs API, and refuse a bad page."""

from __future__ import annotations

from typing import Any

from mlops_hub.lab.errors import LabError


class RecordingJobsBackend:
    """Records what the handler asks of the hub's jobs API (that API itself is tested on the real stack,
    tests/integration/test_jobs_swarm.py); answers like it."""

    def __init__(self) -> None:
        self.asked: list[tuple] = []

    def job(self, job_id: str) -> dict:
        self.asked.append(("job", job_id))
        if job_id == "nb__gone":
            raise LabError("No job 'nb__gone'.", status=404, reason="jobs")
        return {"id": job_id}

    def runs(self, job_id: str, limit: int = 25, offset: int = 0) -> dict:
        self.asked.append(("runs", job_id, limit, offset))
        return {"runs": [{"run_id": f"r{i}"} for i in range(offset, offset + limit)][:3], "total": 3}


async def test_a_jobs_runs_are_paged_as_the_panel_asks(fetch_json: Any, lab_app: Any) -> None:
    lab_app.jobs_backend = backend = RecordingJobsBackend()
    status, body = await fetch_json("mlops-hub", "jobs", "nb__x", params={"limit": "10", "offset": "20"})
    assert status == 200, body
    assert backend.asked == [("job", "nb__x"), ("runs", "nb__x", 10, 20)]
    assert body["job"] == {"id": "nb__x"} and body["total"] == 3

    backend.asked.clear()
    status, body = await fetch_json("mlops-hub", "jobs", "nb__x")
    assert (status, backend.asked[-1]) == (200, ("runs", "nb__x", 25, 0))  # the hub's default page


async def test_a_page_that_is_not_a_whole_number_is_refused_by_name(fetch_json: Any, lab_app: Any) -> None:
    lab_app.jobs_backend = backend = RecordingJobsBackend()
    status, body = await fetch_json("mlops-hub", "jobs", "nb__x", params={"limit": "-1"})
    assert status == 400
    assert "'limit' must be a whole number" in body["message"]
    assert backend.asked == []


async def test_the_hubs_answer_for_a_missing_job_is_passed_on(fetch_json: Any, lab_app: Any) -> None:
    lab_app.jobs_backend = RecordingJobsBackend()
    status, body = await fetch_json("mlops-hub", "jobs", "nb__gone")
    assert status == 404
    assert body["message"] == "No job 'nb__gone'."
