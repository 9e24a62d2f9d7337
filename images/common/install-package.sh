#!/bin/sh
# Installs mlops-hub with the given extra into /opt/venv in two steps, so that Docker's layer
# cache keeps the dependencies when only the package's source changed.
# Usage: install-package.sh deps EXTRA   (pyproject.toml only)  |  install-package.sh source
set -eu
cd /opt/src
if [ "$1" = deps ]; then
  mkdir -p mlops_hub && touch mlops_hub/__init__.py
  /opt/venv/bin/pip install -q --no-cache-dir ".[$2]"
  /opt/venv/bin/pip uninstall -q -y mlops-hub
  rm -rf mlops_hub
else
  /opt/venv/bin/pip install -q --no-cache-dir --no-deps .
fi
