"""Run one scheduled notebook with papermill: the command of a job's Swarm service.

`python -m mlops_hub.lab.run_notebook --run-id ID --conf JSON --notebook PATH --output-dir DIR
--parameters JSON`. The schedule's parameters are overridden by the run's conf (a run-now call);
the notebook's own defaults fill the rest. The executed notebook, with its outputs, is written to
DIR/<name>-<run>.ipynb; cell output goes to stdout, which is the task's log in Airflow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from ..names import ENV_JOB_RUN_ID, job_output_name

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def merged_parameters(schedule_parameters: str, conf: str) -> dict:
    """The schedule's parameters, then the run's conf on top; the conf must be a JSON object."""
    params = json.loads(schedule_parameters or "{}")
    try:
        override = json.loads(conf) if conf and conf.strip() else {}
    except ValueError as e:
        raise SystemExit(f"the run's conf is not JSON: {e}") from None
    if override is None:
        override = {}
    if not isinstance(override, dict):
        raise SystemExit(f"the run's conf must be a JSON object of parameters, got {type(override).__name__}")
    return {**params, **override}


def output_path(notebook: Path, output_dir: Path, run_id: str) -> Path:
    return output_dir / job_output_name(notebook.stem, run_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-hub-run-notebook", description=__doc__.splitlines()[0])
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--conf", default="")
    parser.add_argument("--notebook", required=True, type=Path)
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--parameters", default="{}")
    a = parser.parse_args(argv)
    if not a.notebook.is_file():
        print(f"The notebook {a.notebook} does not exist (moved or deleted since it was scheduled?)",
              file=sys.stderr)
        return 2
    parameters = merged_parameters(a.parameters, a.conf)
    a.output_dir.mkdir(parents=True, exist_ok=True)
    out = output_path(a.notebook, a.output_dir, a.run_id)
    os.environ[ENV_JOB_RUN_ID] = a.run_id  # the kernel inherits it: MLflow runs are tagged with the run
    print(f"Running {a.notebook} with parameters {json.dumps(parameters)}", flush=True)
    print(f"Executed notebook: {out}", flush=True)
    import papermill  # here, not at the top: --help and the checks above stay fast

    try:
        # the cells' own stdout and stderr go to ours as they run: the task log shows them live
        papermill.execute_notebook(str(a.notebook), str(out), parameters=parameters, cwd=str(a.notebook.parent),
                                   stdout_file=sys.stdout, stderr_file=sys.stderr, progress_bar=False)
    except papermill.PapermillExecutionError as e:
        print(f"The notebook failed in cell {e.exec_count}: {e.ename}: {e.evalue}", file=sys.stderr, flush=True)
        # the kernel colours its traceback for a terminal; a task log shows the codes as text
        print(_ANSI.sub("", "\n".join(e.traceback)), file=sys.stderr, flush=True)
        print(f"Executed notebook (with the error): {out}", flush=True)
        return 1
    print(f"Done: {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
