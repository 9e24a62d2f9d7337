#!/bin/sh
# Installs mlops-hub with the given extra into /opt/venv in two steps, so that Docker's layer
# cache keeps the dependencies when only the package's source changed.
# Usage: install-package.sh deps EXTRA   (pyproject.toml only)  |  install-package.sh source
set -eu
cd /opt/src
if [ "$1" = deps ]; then
  # both steps build without isolation: a fresh build environment would download JupyterLab
  # (hatch-jupyter-builder's build requirement) every time
  /opt/venv/bin/pip install -q --no-cache-dir "hatchling>=1.21" "hatch-jupyter-builder>=0.9,<0.11"
  mkdir -p mlops_hub && touch mlops_hub/__init__.py
  # only the dependencies matter here: no frontend for this placeholder package
  SKIP_JUPYTER_BUILDER=1 /opt/venv/bin/pip install -q --no-cache-dir --no-build-isolation ".[$2]"
  # rfc3987-syntax (an optional jsonschema format checker, via jupyter-events) compiles a grammar
  # on import: 1 s added to every Jupyter server and hub start. Without it, only IRI format
  # checks of event schemas are skipped.
  /opt/venv/bin/pip uninstall -q -y rfc3987-syntax || true
  /opt/venv/bin/pip uninstall -q -y mlops-hub
  rm -rf mlops_hub
else
  # mlops_hub/labextension/ is already built (mlops-hub build): the hook skips node
  /opt/venv/bin/pip install -q --no-cache-dir --no-deps --no-build-isolation .
fi
