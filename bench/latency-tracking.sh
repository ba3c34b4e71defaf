#!/usr/bin/env bash
# What `latency-tracking` (per-command latency histograms, INFO latencystats) costs on
# top of commandstats, keel versus redis-server: redis-benchmark -P 16 SET and GET
# against each server with `latency-tracking yes` and with `no` (switched at run time
# with CONFIG SET on the same server, so nothing else differs), alternated
# on/off and redis/keel ROUNDS times; keeps the best requests/s of each and prints
# on/off per server (1.00 = free; 0.97 = 3% slower with tracking on).
#
#   bench/latency-tracking.sh               # N=1000000 requests per run, ROUNDS=3
#   N=200000 ROUNDS=2 bench/latency-tracking.sh
#
# commandstats (calls, usec) cannot be turned off in either server (Redis always
# counts them); their cost is in both columns. The command clock that times them is
# read once per command in a pipeline (keel chains the end of one command to the start
# of the next), so the "off" column is keel's floor with commandstats on.
set -euo pipefail

N=${N:-1000000}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
TESTS=${TESTS:-"SET GET"}

cd "$(dirname "$0")/.."
ROOT=$(pwd)

source bench/lib.sh

start redis-server "$WORK/redis.log" redis-server --save '' --appendonly no --daemonize no --dir "$WORK"
REDIS_PORT=$STARTED_PORT
start keel-server "$WORK/keel.log" "$KEEL_BIN" --save '' --appendonly no --dir "$WORK"
KEEL_PORT=$STARTED_PORT

cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo "# the cost of latency-tracking, keel vs redis"
echo "date:      $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "host:      $(nproc) CPUs, ${cpu_model:-unknown CPU}, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "redis:     $(redis-server --version)"
echo "keel:      $("$KEEL_BIN" --version) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit'))"
echo "benchmark: redis-benchmark -P $PIPELINE -c $CLIENTS -n $N, best of $ROUNDS rounds, on/off and servers alternated"
echo

rps() {
    local port=$1 test=$2
    redis-benchmark -p "$port" -q -t "$test" -P "$PIPELINE" -c "$CLIENTS" -n "$N" --csv |
        awk -F'","' -v t="${test^^}" 'NR > 1 && NF > 1 {
            name = $1; gsub(/"/, "", name)
            if (index(name, t) == 1) { gsub(/"/, "", $2); print $2; exit }
        }'
}

best() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 > a + 0) print b; else print a }'
}

tracking() {
    local port=$1 value=$2
    [[ $(redis-cli -p "$port" CONFIG SET latency-tracking "$value") == OK ]] ||
        { echo "error: CONFIG SET latency-tracking $value failed on port $port" >&2; exit 1; }
    redis-cli -p "$port" CONFIG RESETSTAT >/dev/null
}

declare -A BEST
printf '%-6s %-6s %14s %14s %10s\n' server test "tracking on" "tracking off" "on/off"
for test in $TESTS; do
    for _ in $(seq 1 "$ROUNDS"); do
        for setting in yes no; do
            for server in redis keel; do
                port=$REDIS_PORT
                [[ $server == keel ]] && port=$KEEL_PORT
                tracking "$port" "$setting"
                key="$server/$test/$setting"
                BEST[$key]=$(best "${BEST[$key]:-}" "$(rps "$port" "$test")")
            done
        done
    done
    for server in redis keel; do
        on=${BEST[$server/$test/yes]}
        off=${BEST[$server/$test/no]}
        ratio=$(awk -v a="$on" -v b="$off" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')
        printf '%-6s %-6s %14.0f %14.0f %10s\n' "$server" "$test" "$on" "$off" "$ratio"
    done
done

# Both servers must have survived the run, and tracking must really have been on: the
# last "yes" run left histograms behind (INFO latencystats lists them).
for port in "$REDIS_PORT" "$KEEL_PORT"; do
    [[ $(redis-cli -p "$port" PING 2>/dev/null || true) == PONG ]] || { echo "error: server on port $port died" >&2; exit 1; }
    tracking "$port" yes
    redis-cli -p "$port" SET k v >/dev/null
    redis-cli -p "$port" INFO latencystats | grep -q '^latency_percentiles_usec_set:' ||
        { echo "error: no latencystats on port $port with tracking on" >&2; exit 1; }
done
