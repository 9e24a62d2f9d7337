#!/bin/sh
# Installs mlops-hub with the given extra into /opt/venv in two steps, so that Docker's layer
# cache keeps the dependencies when only the package's source changed.
# Usage: install-package.sh deps EXTRA   (pyproject.toml only)  |  install-package.sh source
set -eu
cd /opt/src
if [ "$1" = deps ]; then
  mkdir -p mlops_hub && touch mlops_hub/__init__.py
  /opt/venv/bin/pip install -q --no-cache-dir ".[$2]"
  # rfc3987-syntax (an optional jsonschema format checker, via jupyter-events) compiles a grammar
  # on import: 1 s added to every Jupyter server and hub start. Without it, only IRI format
  # checks of event schemas are skipped.
  /opt/venv/bin/pip uninstall -q -y rfc3987-syntax || true
  /opt/venv/bin/pip uninstall -q -y mlops-hub
  rm -rf mlops_hub
else
  /opt/venv/bin/pip install -q --no-cache-dir --no-deps .
fi
