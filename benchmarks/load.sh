#!/usr/bin/env bash
# Runs the load tool against a management host in its own process, both built in Release:
#   bash benchmarks/load.sh --peers 10000 --heartbeat 1 --duration 60 [--jobs-per-second 1000] [--store memory]
# Host settings for the run: heartbeat (--heartbeat, seconds), store (--store, default sqlite), unknown peers accepted,
# no stream or job-rate limit in the way, logs at Warning. Every other option goes to the load tool (see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."

heartbeat=1
store=sqlite
tool_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --heartbeat) heartbeat="$2"; tool_args+=("$1" "$2"); shift 2 ;;
    --store) store="$2"; shift 2 ;;
    *) tool_args+=("$1"); shift ;;
  esac
done

dotnet build ReactiveMgmt.sln -c Release --nologo -v quiet -clp:ErrorsOnly
data="$(mktemp -d)"
host_pid=""
cleanup() {
  if [ -n "$host_pid" ] && kill -0 "$host_pid" 2>/dev/null; then
    kill -TERM "$host_pid"; wait "$host_pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

interval=$(printf '%02d:%02d:%06.3f' 0 0 "$heartbeat")
(cd samples/ManagementHost && exec dotnet bin/Release/net10.0/ManagementHost.dll \
  --Logging:LogLevel:Default=Warning --Logging:LogLevel:Microsoft.Hosting.Lifetime=Information \
  --Management:HeartbeatInterval="$interval" --Management:Store="$store" \
  --Management:ServerKeyPath="$data/management.key" --Management:SqlitePath="$data/management.db" \
  --Management:AcceptUnknownPeers=true --Management:MaxConcurrentStreams=1000000 \
  --Management:MaxJobsPerSecond=1000000 --Management:JobCreationBurst=1000000) > "$data/host.log" 2>&1 &
host_pid=$!

for _ in $(seq 1 100); do
  grep -q "Application started" "$data/host.log" 2>/dev/null && break
  kill -0 "$host_pid" 2>/dev/null || { cat "$data/host.log"; exit 1; }
  sleep 0.1
done

status=0
dotnet benchmarks/Reactive.Management.LoadTest/bin/Release/net10.0/Reactive.Management.LoadTest.dll \
  --server-pid "$host_pid" "${tool_args[@]}" || status=$?
if grep -qE "fail|crit" "$data/host.log"; then
  echo "host log (errors):"; grep -E -A3 "fail|crit" "$data/host.log" | head -40
fi
exit $status
