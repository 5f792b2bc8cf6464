#!/usr/bin/env bash
# Runs the load tool against a server in its own process, both built in Release:
#   bash benchmarks/load.sh --peers 10000 --heartbeat 1 --duration 60 [--jobs-per-second 1000] [--store memory]
#   bash benchmarks/load.sh --compare --peers 10000 --heartbeat 1 --duration 30
# Each peer holds its own HTTP/2 connection (the tool's --streams-per-connection, default 1), as real peers do.
# Host settings for the run: heartbeat (--heartbeat, seconds), store (--store, default sqlite), unknown peers accepted,
# no stream or job-rate limit in the way, logs at Warning; --host-arg ARG passes one more (e.g.
# --host-arg --Management:HeartbeatScheduler=default), and --host-env VAR=VALUE one environment variable (e.g.
# --host-env DOTNET_GCgen0size=0x4000000). Every other option goes to the load tool (see its --help).
# --server ours|port|bare picks the server of a single run (default ours). --node-client measures it with
# benchmarks/peer-check.mjs (Node's own HTTP/2, another runtime and GC) instead of the .NET tool: a check of the tool's
# peer-side figures (heartbeat scenarios only; Node from the machine, no packages).
# --gcdump-dir DIR saves a heap snapshot of each server (DIR/KIND.gcdump) at the end of its window (dotnet tool restore first).
# --create measures durable job creation through the API alone (LoadTest create: --clients keep-alive clients flat out
# for --duration seconds over --peers registered, unconnected peers), e.g. bash benchmarks/load.sh --create --clients 64 --duration 20.
# --events measures the event stream and one webhook (LoadTest events: --sse-clients SSE clients, --creators API clients
# creating jobs for --duration seconds; the host sends every event to the tool's receiver), e.g. --events --duration 15.
# --batch [--max-in-flight N] sends one fan-out batch to every connected peer instead of a window of jobs;
# --jobs-per-second R --fan-out creates the jobs through POST /api/jobs (a batch every 100 ms).
# --compare runs the same scenario against three servers, one after another, and prints one table with ratios:
# a bare grpc-dotnet hold-only server, a hand-written port of NetBird PR #5185, and our host (benchmarks/Reactive.Management.Baselines).
set -euo pipefail
cd "$(dirname "$0")/.."

heartbeat=1
store=sqlite
peers=1000
compare=false
create=false
events=false
node_client=false
server=ours
duration=30
gcdump_dir=""
host_args=()
host_env=()
tool_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --heartbeat) heartbeat="$2"; tool_args+=("$1" "$2"); shift 2 ;;
    --peers) peers="$2"; tool_args+=("$1" "$2"); shift 2 ;;
    --store) store="$2"; shift 2 ;;
    --host-arg) host_args+=("$2"); shift 2 ;;
    --host-env) host_env+=("$2"); shift 2 ;;
    --compare) compare=true; shift ;;
    --create) create=true; shift ;;
    --events) events=true; host_args+=("--Management:Webhooks:0:Url=http://127.0.0.1:33075/hook" "--Management:Webhooks:0:Secret=load-tool-webhook-secret"); tool_args+=("--webhook-port" "33075"); shift ;;
    --node-client) node_client=true; shift ;;
    --server) server="$2"; shift 2 ;;
    --duration) duration="$2"; tool_args+=("$1" "$2"); shift 2 ;;
    --gcdump-dir) gcdump_dir="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    --jobs-per-second)
      if [ "$compare" = true ] && [ "$2" != 0 ]; then echo "load: --compare measures heartbeats only (the baselines have no job API)" >&2; exit 2; fi
      tool_args+=("$1" "$2"); shift 2 ;;
    *) tool_args+=("$1"); shift ;;
  esac
done

# One descriptor per connection on each side, plus the runtime's own: raise the open-files limit for both processes
# (they inherit this shell's). Root may raise the hard limit (with CAP_SYS_RESOURCE; containers often drop it); anyone
# may raise the soft one up to the hard one.
need=$(( peers + 2000 ))
want=$(( need > 65536 ? need : 65536 ))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
  ulimit -Hn "$want" 2>/dev/null || echo "load: cannot raise the hard open-files limit from $(ulimit -Hn) to $want here (no CAP_SYS_RESOURCE)." >&2
fi
hard=$(ulimit -Hn)
ulimit -Sn "$( [ "$hard" = unlimited ] || [ "$hard" -gt "$want" ] && echo "$want" || echo "$hard")"
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
  echo "load: $peers peers need about $need open files in the server (one per connection) and as many in the tool;" >&2
  echo "load: this shell may open $hard. Use at most $(( hard - 2000 )) peers, or raise the limit (ulimit -Hn as root with" >&2
  echo "load: CAP_SYS_RESOURCE, LimitNOFILE= in systemd, nofile in limits.conf) and run again." >&2
  exit 2
fi
echo "load: open files limit $(ulimit -Sn) for the server and the tool"

dotnet build ReactiveMgmt.sln -c Release --nologo -v quiet -clp:ErrorsOnly
data="$(mktemp -d)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
cleanup() { stop_server; stop_postgres; rm -rf "$data"; }
trap cleanup EXIT

# --store postgres: a throwaway PostgreSQL cluster (the machine's packages: bash .ci/install-postgres.sh) in the run's
# folder, fsync on (the default), for our host's store.
postgres_bin=""
start_postgres() {
  postgres_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$postgres_bin/initdb" ] || { echo "load: --store postgres needs PostgreSQL (bash .ci/install-postgres.sh)" >&2; exit 2; }
  local as=()
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$data"; as=(runuser -u postgres --); fi
  "${as[@]}" "$postgres_bin/initdb" -D "$data/pg" -U postgres -A trust -E UTF8 > /dev/null
  "${as[@]}" "$postgres_bin/pg_ctl" -D "$data/pg" -l "$data/pg.log" -w start -o "-p 54329 -k $data -c listen_addresses=127.0.0.1 -c max_connections=300" > /dev/null
  host_args+=("--Management:PostgresConnectionString=Host=127.0.0.1;Port=54329;Username=postgres;Database=postgres;Maximum Pool Size=100")
}
stop_postgres() {
  if [ -n "$postgres_bin" ]; then
    local as=()
    if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
    "${as[@]}" "$postgres_bin/pg_ctl" -D "$data/pg" -m immediate -w stop > /dev/null 2>&1 || true
  fi
}

# start_server ours|bare|port: starts it on the host sample's addresses and waits until it listens.
start_server() {
  local kind="$1" log="$data/$1.log"
  case "$kind" in
    ours)
      local interval
      interval=$(printf '%02d:%02d:%06.3f' 0 0 "$heartbeat")
      rm -f "$data/management.db"*
      (cd samples/ManagementHost && exec env "${host_env[@]}" dotnet bin/Release/net10.0/ManagementHost.dll \
        --Logging:LogLevel:Default=Warning --Logging:LogLevel:Microsoft.Hosting.Lifetime=Information \
        --Management:HeartbeatInterval="$interval" --Management:Store="$store" \
        --Management:ServerKeyPath="$data/management.key" --Management:SqlitePath="$data/management.db" \
        --Management:AcceptUnknownPeers=true --Management:MaxConcurrentStreams=1000000 \
        --Management:MaxJobsPerSecond=1000000 --Management:JobCreationBurst=1000000 "${host_args[@]}") > "$log" 2>&1 &
      ;;
    bare) dotnet benchmarks/Reactive.Management.Baselines/bin/Release/net10.0/Reactive.Management.Baselines.dll --mode hold > "$log" 2>&1 & ;;
    port) dotnet benchmarks/Reactive.Management.Baselines/bin/Release/net10.0/Reactive.Management.Baselines.dll --mode ticker --heartbeat "$heartbeat" > "$log" 2>&1 & ;;
  esac
  server_pid=$!
  for _ in $(seq 1 100); do
    grep -q "Application started" "$log" 2>/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log"; exit 1
}

# run_tool KIND [ARGS...]: the load tool against the running server; its exit status is kept.
status=0
run_tool() {
  local kind="$1"; shift
  if [ -n "$gcdump_dir" ]; then set -- "$@" --gcdump "$gcdump_dir/$kind.gcdump"; fi
  dotnet benchmarks/Reactive.Management.LoadTest/bin/Release/net10.0/Reactive.Management.LoadTest.dll \
    --server-pid "$server_pid" --label "$kind" "${tool_args[@]}" "$@" || status=$?
  if grep -qE "fail|crit" "$data/$kind.log"; then
    echo "$kind server log (errors):"; grep -E -A3 "fail|crit" "$data/$kind.log" | head -40
  fi
}

if [ "$store" = postgres ]; then start_postgres; fi
if [ "$compare" = true ]; then
  for kind in bare port ours; do
    echo; echo "=== $kind ==="
    start_server "$kind"
    run_tool "$kind" --summary "$data/summary.jsonl"
    stop_server
    sleep 2 # the closed connections' ports leave TIME_WAIT behind; give the next server a quiet start
  done
  echo
  dotnet benchmarks/Reactive.Management.LoadTest/bin/Release/net10.0/Reactive.Management.LoadTest.dll compare "$data/summary.jsonl"
elif [ "$events" = true ]; then
  start_server ours
  dotnet benchmarks/Reactive.Management.LoadTest/bin/Release/net10.0/Reactive.Management.LoadTest.dll events "${tool_args[@]}" || status=$?
elif [ "$create" = true ]; then
  start_server ours
  # PostgreSQL's own processes share the machine: their CPU over the run (ticks of 10 ms), when it is ours.
  postgres_ticks() { for p in $(pgrep -u postgres -x postgres 2>/dev/null); do awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }
  started=$(date +%s.%N); before=$(postgres_ticks)
  dotnet benchmarks/Reactive.Management.LoadTest/bin/Release/net10.0/Reactive.Management.LoadTest.dll create --server-pid "$server_pid" "${tool_args[@]}" || status=$?
  if [ -n "$postgres_bin" ]; then
    awk -v t="$(( $(postgres_ticks) - before ))" -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "| PostgreSQL server CPU over the whole run (registration and warm-up too) | %.2f cores |\n", t / 100 / (e - s) }'
  fi
elif [ "$node_client" = true ]; then
  start_server "$server"
  dotnet benchmarks/Reactive.Management.LoadTest/bin/Release/net10.0/Reactive.Management.LoadTest.dll hellos --peers "$peers" "$data/hellos.txt"
  node benchmarks/peer-check.mjs --hellos "$data/hellos.txt" --heartbeat "$heartbeat" --duration "$duration" --server-pid "$server_pid" || status=$?
else
  start_server "$server"
  run_tool "$server"
fi
exit $status
