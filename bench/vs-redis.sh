#!/usr/bin/env bash
# Throughput of keel versus redis-server, measured with redis-benchmark.
#
#   bench/vs-redis.sh                 # N=200000 requests per run, ROUNDS=2
#   N=20000 ROUNDS=1 bench/vs-redis.sh
#
# Builds keel in release mode, starts target/release/keel-server and redis-server on
# two free ports (no persistence), then for each test in TESTS (default SET GET INCR
# MSET; e.g. TESTS="LPUSH RPOP SADD HSET ZADD LRANGE_100") at pipeline 1 and
# 16 with 50 clients runs redis-benchmark alternately against redis and keel, ROUNDS
# times, keeps the best requests/s of each and prints a table with keel/redis.
# BEFORE=path/to/older/keel-server adds that build as a third server, alternated with
# the others, and a before/after column (did a change cost throughput?).
set -euo pipefail

N=${N:-200000}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-50}
TESTS=${TESTS:-"SET GET INCR MSET"}
PIPELINES=${PIPELINES:-"1 16"}

cd "$(dirname "$0")/.."
ROOT=$(pwd)

source bench/lib.sh

start redis-server "$WORK/redis.log" redis-server --save '' --appendonly no --daemonize no --dir "$WORK"
REDIS_PORT=$STARTED_PORT
start keel-server "$WORK/keel.log" "$KEEL_BIN" --save '' --appendonly no --dir "$WORK"
KEEL_PORT=$STARTED_PORT
BEFORE=${BEFORE:-}
if [[ -n $BEFORE ]]; then
    start keel-before "$WORK/before.log" "$BEFORE" --save '' --appendonly no --dir "$WORK"
    BEFORE_PORT=$STARTED_PORT
fi

cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo "# keel vs redis throughput"
echo "date:      $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "host:      $(nproc) CPUs, ${cpu_model:-unknown CPU}"
echo "redis:     $(redis-server --version)"
echo "keel:      $("$KEEL_BIN" --version) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit'))"
echo "benchmark: redis-benchmark -c $CLIENTS -n $N, best of $ROUNDS rounds, servers alternated"
echo

# requests/s of one redis-benchmark run (the rps column of the test's CSV line; LRANGE
# tests are preceded by the LPUSH that fills the list, whose line is skipped).
rps() {
    local port=$1 test=$2 pipeline=$3
    redis-benchmark -p "$port" -q -t "$test" -P "$pipeline" -c "$CLIENTS" -n "$N" --csv |
        awk -F'","' -v t="${test^^}" 'NR > 1 && NF > 1 {
            name = $1; gsub(/"/, "", name)
            if (index(name, t) == 1) { gsub(/"/, "", $2); print $2; exit }
        }'
}

best() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 > a + 0) print b; else print a }'
}

if [[ -n $BEFORE ]]; then
    printf '%-10s %8s %14s %14s %14s %12s %12s\n' test pipeline "redis rps" "before rps" "keel rps" keel/redis after/before
else
    printf '%-10s %8s %14s %14s %12s\n' test pipeline "redis rps" "keel rps" keel/redis
fi
for test in $TESTS; do
    for pipeline in $PIPELINES; do
        best_redis=""
        best_keel=""
        best_before=""
        for _ in $(seq 1 "$ROUNDS"); do
            best_redis=$(best "$best_redis" "$(rps "$REDIS_PORT" "$test" "$pipeline")")
            if [[ -n $BEFORE ]]; then
                best_before=$(best "$best_before" "$(rps "$BEFORE_PORT" "$test" "$pipeline")")
            fi
            best_keel=$(best "$best_keel" "$(rps "$KEEL_PORT" "$test" "$pipeline")")
        done
        ratio=$(awk -v k="$best_keel" -v r="$best_redis" 'BEGIN { if (r > 0) printf "%.2f", k / r; else print "n/a" }')
        if [[ -n $BEFORE ]]; then
            change=$(awk -v k="$best_keel" -v b="$best_before" 'BEGIN { if (b > 0) printf "%.2f", k / b; else print "n/a" }')
            printf '%-10s %8s %14.0f %14.0f %14.0f %12s %12s\n' "$test" "$pipeline" "$best_redis" "$best_before" "$best_keel" "$ratio" "$change"
        else
            printf '%-10s %8s %14.0f %14.0f %12s\n' "$test" "$pipeline" "$best_redis" "$best_keel" "$ratio"
        fi
    done
done

# Both servers must have survived the run.
for port in "$REDIS_PORT" "$KEEL_PORT" ${BEFORE_PORT:-}; do
    [[ $(redis-cli -p "$port" PING 2>/dev/null || true) == PONG ]] || { echo "error: server on port $port died" >&2; exit 1; }
done
