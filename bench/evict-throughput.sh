#!/usr/bin/env bash
# Throughput at maxmemory, keel versus redis-server: `redis-benchmark -t set -r RANGE
# -n REQUESTS -P 16` against each server in turn with allkeys-lru and a maxmemory far
# below what the random keys need, so nearly every SET of a new key evicts one.
#
#   bench/evict-throughput.sh            # MAXMEMORY=20mb RANGE=1000000 REQUESTS=2000000
set -euo pipefail

MAXMEMORY=${MAXMEMORY:-20mb}
RANGE=${RANGE:-1000000}
REQUESTS=${REQUESTS:-2000000}
POLICY=${POLICY:-allkeys-lru}

cd "$(dirname "$0")/.."
ROOT=$(pwd)
source bench/lib.sh

cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo "# redis-benchmark -t set -r $RANGE -n $REQUESTS -P 16 at maxmemory $MAXMEMORY, $POLICY"
echo "date:   $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "host:   $(nproc) CPUs, ${cpu_model:-unknown CPU}"
echo "redis:  $(redis-server --version)"
echo "keel:   $("$KEEL_BIN" --version) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit'))"
echo

declare -A RPS
printf '%-6s %14s %12s %10s\n' server "SET/s" "evicted" "keys"
for name in redis keel; do
    args=(--save '' --appendonly no --dir "$WORK" --maxmemory "$MAXMEMORY" --maxmemory-policy "$POLICY")
    if [[ $name == redis ]]; then
        start redis-server "$WORK/redis.log" redis-server "${args[@]}" --daemonize no
    else
        start keel-server "$WORK/keel.log" "$KEEL_BIN" "${args[@]}"
    fi
    port=$STARTED_PORT pid=$STARTED_PID
    rps=$(redis-benchmark -p "$port" -t set -r "$RANGE" -n "$REQUESTS" -P 16 -q | tr '\r' '\n' |
        sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
    RPS[$name]=$rps
    evicted=$(redis-cli -p "$port" INFO stats | tr -d '\r' | awk -F: '$1 == "evicted_keys" { print $2 }')
    keys=$(redis-cli -p "$port" DBSIZE)
    printf '%-6s %14s %12s %10s\n' "$name" "$rps" "$evicted" "$keys"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done
echo
awk -v r="${RPS[redis]}" -v k="${RPS[keel]}" 'BEGIN { if (r > 0) printf "keel/redis throughput: %.2f\n", k / r }'
