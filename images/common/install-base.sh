#!/bin/sh
# The base layer: Python, CA certificates (plus the extra CA bundle the build was given, for
# sites whose package mirrors sit behind an internal CA), and the given Debian packages.
# Usage: install-base.sh [extra Debian packages...]
set -eu
/opt/mlops-build/apt-install.sh python3 python3-venv ca-certificates "$@"
if [ -s /opt/mlops-build/ca/extra-ca.crt ]; then
  # appended, not hashed: a bundle may hold many certificates in one file
  cat /opt/mlops-build/ca/extra-ca.crt >> /etc/ssl/certs/ca-certificates.crt
fi
python3 -m venv /opt/venv
/opt/venv/bin/pip install -q --no-cache-dir --upgrade pip
