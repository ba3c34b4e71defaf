#!/usr/bin/env bash
# Replication, keel and redis-server as masters side by side, each with a redis-server
# 7.0 replica (diskless sync on both masters, no delay):
#   1. redis-benchmark -P 16 SET (-c 50, -n $REQUESTS, random keys) against the master
#      alone, then with one replica attached and online: requests per second, and the
#      ratio with/without the replica;
#   2. full sync of $KEYS keys (DEBUG POPULATE, $VALUE_BYTES-byte values) over
#      loopback: time from REPLICAOF to the replica's master_link_status:up.
#
#   bench/repl.sh               # REQUESTS=1000000 KEYS=1000000 VALUE_BYTES=100
set -euo pipefail

REQUESTS=${REQUESTS:-1000000}
KEYS=${KEYS:-1000000}
VALUE_BYTES=${VALUE_BYTES:-100}

cd "$(dirname "$0")/.."
source bench/lib.sh

field() { redis-cli -p "$1" INFO "$2" | tr -d '\r' | awk -F: -v k="$3" '$1==k{print $2}'; }

rps() {
    redis-benchmark -p "$1" -t set -P 16 -c 50 -n "$REQUESTS" -r 1000000 -q 2>/dev/null \
        | tr '\r' '\n' | awk '/requests per second/ {v=$2} END {print v}'
}

now_ms() { date +%s%3N; }

# wait_up REPLICA_PORT: until its link is up (at most 60 s).
wait_up() {
    for _ in $(seq 1 6000); do
        [[ $(field "$1" replication master_link_status) == up ]] && return 0
        sleep 0.01
    done
    echo "error: replica on $1 never came up" >&2
    exit 1
}

run() {
    local name=$1
    shift
    start "$name" "$WORK/$name.log" "$@" --save "" --appendonly no \
        --repl-diskless-sync yes --repl-diskless-sync-delay 0
    local master=$STARTED_PORT
    start replica "$WORK/$name-replica.log" redis-server --save "" --appendonly no \
        --dir "$WORK"
    local replica=$STARTED_PORT
    local alone with ratio
    alone=$(rps "$master")
    redis-cli -p "$replica" REPLICAOF 127.0.0.1 "$master" >/dev/null
    wait_up "$replica"
    with=$(rps "$master")
    ratio=$(awk -v a="$alone" -v w="$with" 'BEGIN {printf "%.2f", w / a}')
    redis-cli -p "$replica" REPLICAOF NO ONE >/dev/null
    redis-cli -p "$master" FLUSHALL >/dev/null
    redis-cli -p "$master" DEBUG POPULATE "$KEYS" key "$VALUE_BYTES" >/dev/null
    local t0 t1
    t0=$(now_ms)
    redis-cli -p "$replica" REPLICAOF 127.0.0.1 "$master" >/dev/null
    # The link reads "up" from the previous sync until the new one starts.
    sleep 0.05
    wait_up "$replica"
    t1=$(now_ms)
    local keys
    keys=$(redis-cli -p "$replica" DBSIZE)
    printf "%-6s SET -P 16: alone %s rps, with a replica %s rps (ratio %s); full sync of %s keys: %d ms (replica has %s)\n" \
        "$name" "$alone" "$with" "$ratio" "$KEYS" $((t1 - t0)) "$keys"
    redis-cli -p "$replica" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    redis-cli -p "$master" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
}

run keel "$KEEL_BIN" --enable-debug-command yes
run redis redis-server --enable-debug-command yes
