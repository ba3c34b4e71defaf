#!/usr/bin/env bash
# Chained replicas: a redis-server 7.0 master, a middle replica (keel, then
# redis-server 7.0, each in its own chain) and a redis-server sub-replica of the middle:
#   1. full sync of $KEYS keys (DEBUG POPULATE on the top, $VALUE_BYTES-byte values)
#      served BY THE MIDDLE to the sub-replica: ms from REPLICAOF to the sub's link up;
#   2. redis-benchmark -P 16 SET (-c 50, -n $REQUESTS, random keys) against the top
#      with the chain attached: requests per second, then ms from the benchmark's end
#      until the sub-replica's offset equals the top's; DEBUG DIGEST equal at all three.
#
#   bench/repl-chain.sh         # REQUESTS=500000 KEYS=200000 VALUE_BYTES=100
set -euo pipefail

REQUESTS=${REQUESTS:-500000}
KEYS=${KEYS:-200000}
VALUE_BYTES=${VALUE_BYTES:-100}

cd "$(dirname "$0")/.."
source bench/lib.sh

field() { redis-cli -p "$1" INFO "$2" | tr -d '\r' | awk -F: -v k="$3" '$1==k{print $2}'; }

rps() {
    redis-benchmark -p "$1" -t set -P 16 -c 50 -n "$REQUESTS" -r 1000000 -q 2>/dev/null \
        | tr '\r' '\n' | awk '/requests per second/ {v=$2} END {print v}'
}

now_ms() { date +%s%3N; }

wait_up() {
    for _ in $(seq 1 6000); do
        [[ $(field "$1" replication master_link_status) == up ]] && return 0
        sleep 0.01
    done
    echo "error: replica on $1 never came up" >&2
    exit 1
}

# wait_offset TOP SUB: until SUB's offset equals TOP's (at most 60 s).
wait_offset() {
    for _ in $(seq 1 6000); do
        local t s
        t=$(field "$1" replication master_repl_offset)
        s=$(field "$2" replication master_repl_offset)
        [[ -n $t && $t == "$s" ]] && return 0
        sleep 0.01
    done
    echo "error: $2 never caught up with $1" >&2
    exit 1
}

run() {
    local name=$1
    shift
    start top "$WORK/$name-top.log" redis-server --save "" --appendonly no --dir "$WORK" \
        --enable-debug-command yes --repl-diskless-sync yes --repl-diskless-sync-delay 0
    local top=$STARTED_PORT
    start "$name" "$WORK/$name.log" "$@" --save "" --appendonly no \
        --repl-diskless-sync yes --repl-diskless-sync-delay 0
    local middle=$STARTED_PORT
    start sub "$WORK/$name-sub.log" redis-server --save "" --appendonly no --dir "$WORK" \
        --enable-debug-command yes
    local sub=$STARTED_PORT
    redis-cli -p "$top" DEBUG POPULATE "$KEYS" key "$VALUE_BYTES" >/dev/null
    redis-cli -p "$middle" REPLICAOF 127.0.0.1 "$top" >/dev/null
    wait_up "$middle"
    local t0 t1
    t0=$(now_ms)
    redis-cli -p "$sub" REPLICAOF 127.0.0.1 "$middle" >/dev/null
    wait_up "$sub"
    t1=$(now_ms)
    local sync_ms=$((t1 - t0)) with lag_ms
    with=$(rps "$top")
    t0=$(now_ms)
    wait_offset "$top" "$sub"
    t1=$(now_ms)
    lag_ms=$((t1 - t0))
    local d1 d2 d3 same=no
    d1=$(redis-cli -p "$top" DEBUG DIGEST)
    d2=$(redis-cli -p "$middle" DEBUG DIGEST)
    d3=$(redis-cli -p "$sub" DEBUG DIGEST)
    [[ $d1 == "$d2" && $d2 == "$d3" ]] && same=yes
    printf "middle %-6s full sync of %s keys from the middle: %d ms; SET -P 16 on the top: %s rps; sub caught up %d ms after; digests equal: %s\n" \
        "$name" "$KEYS" "$sync_ms" "$with" "$lag_ms" "$same"
    for p in "$sub" "$middle" "$top"; do
        redis-cli -p "$p" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    done
}

run keel "$KEEL_BIN" --enable-debug-command yes
run redis redis-server --enable-debug-command yes --dir "$WORK"
