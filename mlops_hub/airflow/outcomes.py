"""Batch job outcomes for Prometheus: the scheduler pushes each run's end to the Pushgateway.

Pushed from Airflow's side (the task's success and failure callbacks, in the trusted scheduler), not by
the job's own container: a notebook cannot report a failed run as a success. One group per job
(job `mlops_job_runs`, user, dag_id), replaced at each run's end - the Pushgateway's way for batch jobs:

  mlops_job_last_run_success        1 when the last run succeeded, 0 when it failed
  mlops_job_last_run_end_timestamp_seconds, mlops_job_last_success_timestamp_seconds (successes only),
  mlops_job_last_run_duration_seconds

labelled role and environment. A push that fails is logged and never fails the run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

from .job_spec import JobSpec

log = logging.getLogger(__name__)
PUSH_JOB = "mlops_job_runs"
DEFAULT_GATEWAY = "pushgateway:9091"  # the stack's Pushgateway on the internal network


def outcome_registry(spec: JobSpec, success: bool, duration: float | None, ended: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    labels = {"role": spec.role, "environment": spec.environment}

    def gauge(name: str, text: str, value: float) -> None:
        Gauge(name, text, list(labels), registry=registry).labels(**labels).set(value)

    gauge("mlops_job_last_run_success", "1 when the job's last run succeeded, 0 when it failed", 1 if success else 0)
    gauge("mlops_job_last_run_end_timestamp_seconds", "When the job's last run ended", ended)
    if success:
        gauge("mlops_job_last_success_timestamp_seconds", "When the job's last successful run ended", ended)
    if duration is not None:
        gauge("mlops_job_last_run_duration_seconds", "How long the job's last run took", duration)
    return registry


def grouping_key(spec: JobSpec) -> dict[str, str]:
    return {"user": spec.owner, "dag_id": spec.dag_id}


def outcome_callback(spec: JobSpec, success: bool, gateway: str | None = None,
                     now: Callable[[], float] = time.time) -> Callable[[dict], None]:
    """An Airflow task callback that pushes this run's outcome."""

    def push(context: dict) -> None:
        ti = context.get("ti") or context.get("task_instance")
        duration = getattr(ti, "duration", None)
        try:
            # pushadd: a failure keeps the group's last success timestamp
            pushadd_to_gateway(gateway or os.environ.get("MLOPS_PUSHGATEWAY", DEFAULT_GATEWAY), job=PUSH_JOB,
                               registry=outcome_registry(spec, success, duration, now()),
                               grouping_key=grouping_key(spec), timeout=10)
        except Exception as e:  # noqa: BLE001 - monitoring never fails a run
            log.warning("mlops-hub: could not push the outcome of %s to the Pushgateway: %s", spec.dag_id, e)

    return push
