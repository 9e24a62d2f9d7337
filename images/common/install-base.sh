#!/bin/sh
# Shared first layer of every mlops-hub image: Python, CA certificates (plus the extra CA
# bundle the build was given, for sites whose package mirrors sit behind an internal CA).
# Usage: install-base.sh [extra Debian packages...]
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates "$@" >/dev/null
if [ -s /opt/mlops-build/ca/extra-ca.crt ]; then
  # appended, not hashed: a bundle may hold many certificates in one file
  cat /opt/mlops-build/ca/extra-ca.crt >> /etc/ssl/certs/ca-certificates.crt
fi
rm -rf /var/lib/apt/lists/*
python3 -m venv /opt/venv
/opt/venv/bin/pip install -q --no-cache-dir --upgrade pip
