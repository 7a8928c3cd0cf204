#!/usr/bin/env bash
# System tools the test suite drives, installed from Debian's packages when missing (CI runs as
# root): Chromium for the browser tests, and a Compose implementation for `compose config`
# (the docker CLI's compose plugin when present, else Debian's docker-compose, which validates
# the same Compose specification without a Docker engine).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  missing+=(docker-compose)
fi
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "missing system packages: ${missing[*]} (install Debian's packages; needs root)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
