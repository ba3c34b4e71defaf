#!/usr/bin/env bash
# FAILOVER, keel and redis-server 7.0 side by side, each a master with one replica of
# its own kind (diskless sync, no delay), $ROUNDS rounds each:
#   1. idle: time from FAILOVER's +OK to the old master following the new one
#      (role:slave, master_link_status:up, master_failover_state:no-failover);
#   2. under load: the same while redis-benchmark SETs (-c 20, -P 1) run against the
#      master; afterwards the load stops and DEBUG DIGEST of both must be equal
#      (every write the old master acknowledged is on the new one).
#
#   bench/failover.sh          # ROUNDS=3
set -euo pipefail

ROUNDS=${ROUNDS:-3}

cd "$(dirname "$0")/.."
source bench/lib.sh

field() { redis-cli -p "$1" INFO replication | tr -d '\r' | awk -F: -v k="$2" '$1==k{print $2}'; }
now_ms() { date +%s%3N; }

wait_until() { # PORT FIELD VALUE
    for _ in $(seq 1 3000); do
        [[ $(field "$1" "$2") == "$3" ]] && return 0
        sleep 0.005
    done
    echo "error: $1 never had $2:$3" >&2
    exit 1
}

caught_up() { # MASTER REPLICA
    wait_until "$2" master_link_status up
    for _ in $(seq 1 3000); do
        local m
        m=$(field "$1" master_repl_offset)
        [[ $(field "$2" master_repl_offset) == "$m" ]] \
            && field "$1" slave0 | grep -q "state=online,offset=$m," && return 0
        sleep 0.01
    done
    echo "error: $2 never caught up with $1" >&2
    exit 1
}

# handover FROM TO: FAILOVER on FROM, ms until FROM follows TO.
handover() {
    local t0 t1
    t0=$(now_ms)
    [[ $(redis-cli -p "$1" FAILOVER) == OK ]] || { echo "error: FAILOVER refused" >&2; exit 1; }
    wait_until "$1" role slave
    wait_until "$1" master_link_status up
    wait_until "$1" master_failover_state no-failover
    t1=$(now_ms)
    echo $((t1 - t0))
}

run() {
    local name=$1
    shift
    start "$name-a" "$WORK/$name-a.log" "$@" --save "" --appendonly no \
        --repl-diskless-sync yes --repl-diskless-sync-delay 0 --dir "$WORK"
    local a=$STARTED_PORT
    start "$name-b" "$WORK/$name-b.log" "$@" --save "" --appendonly no \
        --repl-diskless-sync yes --repl-diskless-sync-delay 0 --dir "$WORK"
    local b=$STARTED_PORT
    redis-cli -p "$a" DEBUG POPULATE 100000 key 100 >/dev/null
    redis-cli -p "$b" REPLICAOF 127.0.0.1 "$a" >/dev/null
    local master=$a replica=$b
    for round in $(seq 1 "$ROUNDS"); do
        caught_up "$master" "$replica"
        local idle loaded
        idle=$(handover "$master" "$replica")
        local t=$master; master=$replica; replica=$t
        caught_up "$master" "$replica"
        redis-benchmark -p "$master" -t set -c 20 -n 100000000 -r 100000 -q >/dev/null 2>&1 &
        local bench=$!
        sleep 1
        loaded=$(handover "$master" "$replica")
        kill "$bench" 2>/dev/null || true
        wait "$bench" 2>/dev/null || true
        t=$master; master=$replica; replica=$t
        caught_up "$master" "$replica"
        local d1 d2 same=no
        d1=$(redis-cli -p "$master" DEBUG DIGEST)
        d2=$(redis-cli -p "$replica" DEBUG DIGEST)
        [[ $d1 == "$d2" ]] && same=yes
        printf '%-6s round %d: FAILOVER idle %5d ms, under SET load %5d ms, digests equal: %s\n' \
            "$name" "$round" "$idle" "$loaded" "$same"
    done
}

run keel "$KEEL_BIN"
run redis redis-server
