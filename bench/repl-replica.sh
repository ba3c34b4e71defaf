#!/usr/bin/env bash
# keel as a replica of redis-server 7.0, against redis-server as a replica of the same
# master, side by side in one run:
#  1. full sync of KEYS keys (DEBUG POPULATE, 100-byte values) over loopback: the time
#     from REPLICAOF to `master_link_status:up`, for a diskless (EOF-marked) and a
#     disk-based (`$<len>`) transfer by the master; ROUNDS rounds each, median printed;
#  2. replica lag under load: redis-benchmark SET -P 16 (50 clients, 100k random
#     keys) on the master for N requests while both replicas follow; the master's
#     offset minus each replica's `slave_repl_offset` sampled in a loop of redis-cli
#     calls (p50, p99, max in bytes; an upper bound: the master is read last), and
#     the master's throughput; DEBUG DIGEST of all three after.
#
#   bench/repl-replica.sh                 # KEYS=1000000 ROUNDS=3 N=1000000
#   KEYS=200000 ROUNDS=1 N=200000 bench/repl-replica.sh
set -euo pipefail

cd "$(dirname "$0")/.."
source bench/lib.sh

KEYS=${KEYS:-1000000}
ROUNDS=${ROUNDS:-3}
N=${N:-1000000}

mkdir -p "$WORK/master" "$WORK/keel" "$WORK/redis"
start master "$WORK/master/log" redis-server --save '' --appendonly no --dir "$WORK/master" \
    --enable-debug-command yes --repl-diskless-sync-delay 0 --repl-backlog-size 64mb
MASTER=$STARTED_PORT
start keel "$WORK/keel/log" "$KEEL_BIN" --save '' --appendonly no --dir "$WORK/keel" --enable-debug-command yes
KEEL=$STARTED_PORT
start redis "$WORK/redis/log" redis-server --save '' --appendonly no --dir "$WORK/redis" --enable-debug-command yes
REDIS=$STARTED_PORT

redis-cli -p "$MASTER" DEBUG POPULATE "$KEYS" key 100 >/dev/null

field() { # field PORT NAME
    redis-cli -p "$1" INFO replication | tr -d '\r' | sed -n "s/^$2://p"
}

now_ms() { date +%s%3N; }

# sync_ms PORT: REPLICAOF the master, wait for the link, print the milliseconds.
sync_ms() {
    local port=$1 t0 t1
    redis-cli -p "$port" REPLICAOF NO ONE >/dev/null
    redis-cli -p "$port" FLUSHALL >/dev/null
    t0=$(now_ms)
    redis-cli -p "$port" REPLICAOF 127.0.0.1 "$MASTER" >/dev/null
    for _ in $(seq 1 6000); do
        if [[ $(field "$port" master_link_status) == up ]]; then
            t1=$(now_ms)
            echo $((t1 - t0))
            return 0
        fi
        sleep 0.01
    done
    echo "error: no sync on $port within 60 s" >&2
    exit 1
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for mode in yes no; do
    redis-cli -p "$MASTER" CONFIG SET repl-diskless-sync "$mode" >/dev/null
    k=() r=()
    for _ in $(seq 1 "$ROUNDS"); do
        k+=("$(sync_ms "$KEEL")")
        r+=("$(sync_ms "$REDIS")")
    done
    [[ $mode == yes ]] && label="diskless (EOF mark)" || label="disk (\$len)"
    printf 'full sync of %s keys, %s: keel %s ms, redis %s ms (median of %s)\n' "$KEYS" "$label" \
        "$(printf '%s\n' "${k[@]}" | median)" "$(printf '%s\n' "${r[@]}" | median)" "$ROUNDS"
done

# Lag under load: both replicas follow the master while the benchmark runs.
redis-cli -p "$KEEL" DBSIZE >/dev/null
lag_file=$WORK/lag
: >"$lag_file"
(
    while true; do
        # Replicas first: the master's offset read after them is at least as far,
        # so each difference bounds the lag from above.
        kk=$(field "$KEEL" slave_repl_offset)
        rr=$(field "$REDIS" slave_repl_offset)
        m=$(field "$MASTER" master_repl_offset)
        echo "$((m - kk)) $((m - rr))" >>"$lag_file"
        sleep 0.01
    done
) &
SAMPLER=$!
PIDS+=("$SAMPLER")
ops=$(timeout 60 redis-benchmark -p "$MASTER" -t set -P 16 -c 50 -n "$N" -r 100000 -q \
    | tr '\r' '\n' | sed -n 's/.*SET: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
kill "$SAMPLER" 2>/dev/null || true
pct() { # pct COLUMN P
    awk -v c="$1" '{print $c}' "$lag_file" | sort -n | awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p/100); if (i<1) i=1; print a[i]}'
}
printf 'master SET -P 16 with both replicas: %s ops/s\n' "$ops"
printf 'replica lag (bytes, sampled every 10 ms over %s samples): keel p50 %s p99 %s max %s; redis p50 %s p99 %s max %s\n' \
    "$(wc -l <"$lag_file")" "$(pct 1 50)" "$(pct 1 99)" "$(pct 1 100)" "$(pct 2 50)" "$(pct 2 99)" "$(pct 2 100)"
sleep 1
printf 'digests after the load: master %s keel %s redis %s\n' \
    "$(redis-cli -p "$MASTER" DEBUG DIGEST)" "$(redis-cli -p "$KEEL" DEBUG DIGEST 2>/dev/null || echo '?')" \
    "$(redis-cli -p "$REDIS" DEBUG DIGEST 2>/dev/null || echo '?')"
