"""The job runner with a real kernel (papermill): parameters merged, outputs kept, failures readable."""

from __future__ import annotations

import json

import nbformat

from mlops_hub.lab.run_notebook import main


def write_notebook(path, *sources, parameters="alpha = 1\nnote = 'default'"):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)


def test_a_run_executes_the_notebook_with_the_runs_parameters_over_the_schedules(tmp_path, capsys):
    notebook = tmp_path / "train.ipynb"
    write_notebook(notebook, "import os\nprint('RESULT', alpha * 2, note, os.getcwd())")
    code = main(["--run-id", "manual__2026-12-02T10:00:00+00:00", "--conf", '{"alpha": 5}', "--notebook",
                 str(notebook), "--output-dir", str(tmp_path / "runs"), "--parameters",
                 '{"alpha": 2, "note": "{{ 7 * 7 }}"}'])
    out = capsys.readouterr().out
    assert code == 0
    assert f"RESULT 10 {{{{ 7 * 7 }}}} {tmp_path}" in out  # the cell's output, live, in the notebook's folder
    executed = nbformat.read(tmp_path / "runs" / "train-manual__2026-12-02T10_00_00_00_00.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "alpha = 5" in injected[0].source and "note = \"{{ 7 * 7 }}\"" in injected[0].source
    assert "RESULT 10" in json.dumps(executed.cells[-1].outputs)


def test_a_failing_notebook_exits_non_zero_with_a_plain_traceback_and_keeps_its_output(tmp_path, capsys):
    notebook = tmp_path / "fails.ipynb"
    write_notebook(notebook, "print('before')", "1 / 0")
    code = main(["--run-id", "r1", "--notebook", str(notebook), "--output-dir", str(tmp_path / "runs")])
    captured = capsys.readouterr()
    assert code == 1
    assert "ZeroDivisionError" in captured.err and "\x1b[" not in captured.err
    assert "before" in captured.out
    assert (tmp_path / "runs" / "fails-r1.ipynb").exists()


def test_a_missing_notebook_is_named(tmp_path, capsys):
    assert main(["--run-id", "r", "--notebook", str(tmp_path / "gone.ipynb"), "--output-dir", str(tmp_path)]) == 2
    assert "gone.ipynb does not exist" in capsys.readouterr().err
