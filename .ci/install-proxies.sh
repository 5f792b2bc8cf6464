#!/usr/bin/env bash
# Installs the reverse proxies the proxy suite runs (Reactive.Management.Tests/Proxies): nginx, HAProxy, Caddy,
# from Debian's packages. Skips what is already installed. Needs root (CI runs as root) or sudo.
set -euo pipefail

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
if [ ${#missing[@]} -eq 0 ]; then
  echo "proxies: nginx, haproxy and caddy are installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "proxies: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages start their system services where an init system runs; the tests start their own instances.
for service in nginx haproxy caddy; do
  $sudo service "$service" stop >/dev/null 2>&1 || true
done
nginx -v 2>&1; haproxy -v | head -1; caddy version
