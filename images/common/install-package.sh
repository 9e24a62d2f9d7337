#!/bin/sh
# Installs mlops-hub with the given extra into /opt/venv in two steps, so that Docker's layer
# cache keeps the dependencies when only the package's source changed.
# Usage: install-package.sh deps EXTRA   (pyproject.toml only)  |  install-package.sh source
set -eu
cd /opt/src
if [ "$1" = deps ]; then
  # the dependencies only, read from pyproject.toml: building the package itself needs its
  # frontend, which arrives with the source
  /opt/venv/bin/python - "$2" > /tmp/mlops-hub-requirements.txt <<'PY'
import sys
import tomllib

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"][sys.argv[1]]))
PY
  # hatchling and hatch-jupyter-builder: the source step builds without isolation, since a fresh
  # build environment would download JupyterLab (the frontend build's requirement) every time
  /opt/venv/bin/pip install -q --no-cache-dir -r /tmp/mlops-hub-requirements.txt \
    "hatchling>=1.21" "hatch-jupyter-builder>=0.9,<0.11"
  rm /tmp/mlops-hub-requirements.txt
  # rfc3987-syntax (an optional jsonschema format checker, via jupyter-events) compiles a grammar
  # on import: 1 s added to every Jupyter server and hub start. Without it, only IRI format
  # checks of event schemas are skipped.
  /opt/venv/bin/pip uninstall -q -y rfc3987-syntax || true
else
  # mlops_hub/labextension/ is already built (mlops-hub build): the hook skips node
  /opt/venv/bin/pip install -q --no-cache-dir --no-deps --no-build-isolation .
fi
