#!/usr/bin/env bash
# Starts the management host (embedded defaults, Demo environment: heartbeat every 2 s) and a demo peer
# that registers itself, receives heartbeats, is asked for a debug bundle after 5 s and answers it.
# Stops both after DEMO_SECONDS (default 15; 0 = until Ctrl-C). Exit code 0 only if heartbeats arrived and the job
# succeeded. The operator console is at the API's address (printed below).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${DEMO_SECONDS:-15}"
data="$(mktemp -d)"

echo "building…"
dotnet build ReactiveMgmt.sln -c Release --nologo -v quiet -clp:ErrorsOnly

host_pid=""
cleanup() {
  if [ -n "$host_pid" ] && kill -0 "$host_pid" 2>/dev/null; then
    kill -TERM "$host_pid"          # graceful: open Job streams end with Unavailable
    wait "$host_pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

# The host in a session of its own: Ctrl-C (DEMO_SECONDS=0) reaches the peer, which shows the operator view and ends;
# then the EXIT trap stops the host.
(cd samples/ManagementHost && exec setsid dotnet run --no-build -c Release --no-launch-profile -- \
  --environment Demo --Management:ServerKeyPath="$data/management.key" --Management:SqlitePath="$data/management.db") \
  > >(sed -u 's/^/host | /') 2>&1 &
host_pid=$!

if [ "$seconds" = "0" ]; then
  echo "console: http://127.0.0.1:33071/ (open it in a browser; Ctrl-C stops the demo)"
else
  echo "console: http://127.0.0.1:33071/ (the demo stops after ${seconds} s; DEMO_SECONDS=0 keeps it running)"
fi

dotnet run --project samples/DemoPeer --no-build -c Release -- \
  --demo-job-after 5 --duration "$seconds" --key-file "$data/demo-peer.key"
