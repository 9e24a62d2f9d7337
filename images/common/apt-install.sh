#!/bin/sh
# Installs Debian packages in an image layer and leaves no package lists behind.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
rm -rf /var/lib/apt/lists/*
