#!/usr/bin/env bash
# The worst single-command latency while the keyspace grows to ~10M keys, keel versus
# redis-server: `redis-benchmark -t set -r 100000000 -n REQUESTS -P 16` loads random keys
# while a prober sends one PING at a time and records the slowest round trip (a stall
# of the event loop, such as rehashing a whole index at a doubling, shows up there).
# Also prints redis-benchmark's own max latency (per pipelined request).
#
#   bench/growth-latency.sh             # REQUESTS=10500000 (~10M distinct keys)
#   TTL=1 bench/growth-latency.sh       # every key with a TTL: SET key:<rand> xxx EX 100000
#   BEFORE=/path/to/keel-server bench/growth-latency.sh   # also an older keel build
#   PIN=1 bench/growth-latency.sh       # server on CPU 0, load and prober on CPU 1, so the
#                                       # load generator does not preempt the server
#                                       # mid-command (a 2-CPU machine's scheduler slice,
#                                       # 3-6 ms, otherwise shows up in SLOWLOG)
set -euo pipefail

REQUESTS=${REQUESTS:-10500000}
TTL=${TTL:-0}
BEFORE=${BEFORE:-}
PIN=${PIN:-0}
if [[ $TTL == 1 ]]; then
    load=(set key:__rand_int__ xxx ex 100000)
else
    load=(-t set)
fi

cd "$(dirname "$0")/.."
ROOT=$(pwd)
source bench/lib.sh

cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo "# worst latency while loading: redis-benchmark ${load[*]} -r 100000000 -n $REQUESTS -P 16, PING prober"
echo "date:   $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "host:   $(nproc) CPUs, ${cpu_model:-unknown CPU}"
echo "redis:  $(redis-server --version)"
echo "keel:   $("$KEEL_BIN" --version) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit'))"
pin=()
if [[ $PIN == 1 ]]; then
    # This shell and so redis-benchmark and the prober on CPU 1; each server on CPU 0.
    taskset -cp 1 $$ >/dev/null
    pin=(taskset -c 0)
    echo "pinned: servers on CPU 0, redis-benchmark and the prober on CPU 1"
fi
echo

printf '%-6s %10s %14s %14s %14s %10s %14s\n' server keys "SET/s" "bench max ms" "cmd max ms (slowlog)" "PINGs" "PING max ms"
servers=(redis keel)
[[ -n $BEFORE ]] && servers+=(before)
for name in "${servers[@]}"; do
    args=(--save '' --appendonly no --dir "$WORK")
    if [[ $name == redis ]]; then
        start redis-server "$WORK/redis.log" "${pin[@]}" redis-server "${args[@]}" --daemonize no
    elif [[ $name == before ]]; then
        start keel-server "$WORK/before.log" "${pin[@]}" "$BEFORE" "${args[@]}"
    else
        start keel-server "$WORK/keel.log" "${pin[@]}" "$KEEL_BIN" "${args[@]}"
    fi
    port=$STARTED_PORT pid=$STARTED_PID
    # The server's own account of its slowest command (LATENCY LATEST's "command"
    # max), beside the prober's round trips (which also count the prober waiting for
    # a CPU on a machine the load saturates).
    redis-cli -p "$port" CONFIG SET latency-monitor-threshold 1 >/dev/null
    # SLOWLOG keeps microseconds, where LATENCY LATEST rounds to milliseconds.
    redis-cli -p "$port" CONFIG SET slowlog-log-slower-than 300 slowlog-max-len 4096 >/dev/null
    stop=$WORK/stop.$name
    ping_probe "$port" "$stop" >"$WORK/probe.$name" &
    prober=$!
    csv=$(redis-benchmark -p "$port" -r 100000000 -n "$REQUESTS" -P 16 --csv "${load[@]}" | tail -1)
    touch "$stop"
    wait "$prober"
    read -r ping_max _ ping_p9999 pings <"$WORK/probe.$name"
    # "test","rps","avg_latency_ms","min_latency_ms","p50","p95","p99","max_latency_ms"
    rps=$(echo "$csv" | tr -d '"' | cut -d, -f2)
    bench_max=$(echo "$csv" | tr -d '"' | cut -d, -f8)
    keys=$(redis-cli -p "$port" DBSIZE)
    # LATENCY LATEST prints name, time, latest, max per event.
    cmd_max=$(redis-cli -p "$port" LATENCY LATEST | { grep -A3 -x command || true; } | sed -n 4p)
    cmd_max=${cmd_max:-"<1"}
    slow_max=$(redis-cli -p "$port" --json SLOWLOG GET 4096 |
        python3 -c 'import json, sys; print("%.2f" % (max([e[2] for e in json.load(sys.stdin)] or [0]) / 1000))')
    cmd_max="$cmd_max ($slow_max)"
    printf '%-6s %10s %14s %14s %14s %10s %14s\n' "$name" "$keys" "$rps" "$bench_max" "$cmd_max" "$pings" "$ping_max (p99.99 $ping_p9999)"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done
