#!/usr/bin/env bash
# Installs PostgreSQL from Debian's packages for the multi-replica suite (Reactive.Management.Tests/Replicas). The tests
# start their own throwaway cluster (initdb in a temp folder, a free loopback port); the package's own service is
# stopped. Skips what is installed. Needs root (CI runs as root) or sudo.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "postgres: $(ls -d /usr/lib/postgresql/*/bin | head -1) is installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "postgres: installing postgresql"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
$sudo service postgresql stop >/dev/null 2>&1 || true
ls -d /usr/lib/postgresql/*/bin | head -1
