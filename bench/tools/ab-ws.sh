#!/usr/bin/env bash
# A/B rounds of the multi-room load over WebSocket, for docs/performance.md:
# alternates several builds of the server (and optionally the uWS reference)
# round by round, each pinned to core 0 with the load generator on core 1,
# and prints one line per run: p50/p95/p99/max end-to-end latency, the
# server's user and system CPU over a window of steady state (from
# /proc/PID/stat, in % of one core), and lost / duplicated / out-of-order.
#
# Usage: bench/tools/ab-ws.sh ROUNDS TARGET...
#   TARGET: a directory holding a build (its dist/, with node_modules
#   reachable from it: a clone after `npm ci && npm run build`, or a copy of
#   dist/ beside a node_modules symlink), or `uws` for the reference server
#   (bench/reference/uws-pubsub.ts, from this checkout's dist/). A build may
#   carry server settings after a colon, comma-separated:
#   `.:ws_fanout=publish` runs this checkout with ws_fanout=publish.
# Environment (all optional):
#   DURATION   load duration, s (default 20);
#   WINDOW     CPU window, s, ending at the end of the load (default 10);
#   LOADGEN    the load generator's directory (default: this checkout);
#   SERVER_ENV extra `key=value` settings for our server (e.g. service_io=baseline).
# Needs Linux, taskset and two cores. Run `npm run build` first.
set -euo pipefail

if (($# < 2)); then
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
rounds=$1
shift
here=$(cd "$(dirname "$0")/../.." && pwd)
loadgen=${LOADGEN:-$here}
duration=${DURATION:-20}
window=${WINDOW:-10}
if ((window >= duration)); then
  echo "WINDOW ($window s) must be shorter than DURATION ($duration s)" >&2
  exit 2
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# utime and stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

for ((i = 1; i <= rounds; i++)); do
  for target in "$@"; do
    # Below Linux's ephemeral range (32768-60999), where the load's own client ports live.
    port=$((10000 + RANDOM % 10000 * 2))
    if [[ $target == uws ]]; then
      taskset -c 0 node "$here/dist/bench/reference/uws-pubsub.js" --port "$port" >/dev/null &
    else
      dir=${target%%:*}
      settings=""
      [[ $target == *:* ]] && settings=${target#*:}
      # shellcheck disable=SC2086 # SERVER_ENV and the target's settings are lists of key=value words
      taskset -c 0 env tcp_port=$((port + 1)) ws_enabled=true ws_port=$port log_file= log_level=warn \
        rate_msgs_per_sec=100000 rate_burst=100000 max_connections_per_ip=100000 max_latency_ms=0 voice_udp_port=0 \
        ${SERVER_ENV:-} ${settings//,/ } node "$dir/dist/src/main.js" >/dev/null &
    fi
    server=$!
    sleep 1.5
    if ! kill -0 "$server" 2>/dev/null; then
      echo "$target round $i: the server did not start (see above); skipped"
      continue
    fi
    taskset -c 1 node "$loadgen/dist/src/loadgen/cli.js" --scenario multi-room --protocol ws --host 127.0.0.1 \
      --port "$port" --stats-port $((port + 1)) --clients 500 --rooms 50 --ramp 100/s --duration "${duration}s" \
      --msg-size 64 --msg-interval 50ms --server-pid "$server" --quiet >"$log" 2>&1 &
    load=$!
    # The measured phase starts after the 5 s ramp (500 clients at 100/s); the window ends 1 s before it does.
    sleep $((4 + duration - window))
    read -r u0 s0 < <(ticks "$server")
    sleep "$window"
    read -r u1 s1 < <(ticks "$server")
    wait "$load" || true
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    user=$(((u1 - u0) * 100 / hz / window))
    sys=$(((s1 - s0) * 100 / hz / window))
    latency=$(grep -a -E '^│ Latency p50' "$log" | sed 's/ *│ */ /g; s/^ *//; s/ *$//')
    lost=$(grep -a -E '^│ Lost' "$log" | sed 's/ *│ */ /g; s/Lost \/ duplicated \/ out of order//; s/^ *//; s/ *$//')
    echo "$target round $i: user ${user}% sys ${sys}% | ${latency:-no latency line (see the load generator)} | lost/dup/ooo ${lost:-?}"
  done
done
