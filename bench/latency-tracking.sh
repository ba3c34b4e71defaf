#!/usr/bin/env bash
# What `latency-tracking` (per-command latency histograms, INFO latencystats) costs on
# top of commandstats, keel versus redis-server: redis-benchmark -P 16 SET and GET
# against each server with `latency-tracking yes` and with `no` (switched at run time
# with CONFIG SET on the same server, so nothing else differs), alternated
# on/off and redis/keel ROUNDS times; keeps the best requests/s of each and prints
# on/off per server (1.00 = free; 0.97 = 3% slower with tracking on).
#
#   bench/latency-tracking.sh               # N=500000 requests per run, ROUNDS=3, N_CG=100000
#   N=200000 ROUNDS=2 bench/latency-tracking.sh
#
# Two figures per run: requests/s (wall clock: noisy on a shared machine), and the
# server's main-thread CPU time per request (from /proc/PID/schedstat, nanoseconds:
# what tracking really costs the event loop, much less sensitive to other load).
# The best of the rounds is kept for each (highest rps, lowest CPU per request).
#
# With valgrind installed (CALLGRIND=0 turns it off), a third figure that load on the
# machine cannot move: the instructions each server executes per request (callgrind's
# Ir between `callgrind_control --zero` and `--dump`, N_CG requests), tracking on and
# off. That ratio is the cost of tracking itself; the throughput rows only bound it.
#
# commandstats (calls, usec) cannot be turned off in either server (Redis always
# counts them); their cost is in both columns. The command clock that times them is
# read once per command in a pipeline (keel chains the end of one command to the start
# of the next), so the "off" column is keel's floor with commandstats on.
set -euo pipefail

N=${N:-500000}
N_CG=${N_CG:-100000}
CALLGRIND=${CALLGRIND:-1}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
TESTS=${TESTS:-"SET GET"}

cd "$(dirname "$0")/.."
ROOT=$(pwd)

source bench/lib.sh

start redis-server "$WORK/redis.log" redis-server --save '' --appendonly no --daemonize no --dir "$WORK"
REDIS_PORT=$STARTED_PORT
REDIS_PID=$STARTED_PID
start keel-server "$WORK/keel.log" "$KEEL_BIN" --save '' --appendonly no --dir "$WORK"
KEEL_PORT=$STARTED_PORT
KEEL_PID=$STARTED_PID

cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo "# the cost of latency-tracking, keel vs redis"
echo "date:      $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "host:      $(nproc) CPUs, ${cpu_model:-unknown CPU}, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "redis:     $(redis-server --version)"
echo "keel:      $("$KEEL_BIN" --version) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit'))"
echo "benchmark: redis-benchmark -P $PIPELINE -c $CLIENTS -n $N, best of $ROUNDS rounds, on/off and servers alternated;"
echo "           CPU = the server main thread's run time (/proc/PID/schedstat) per request"
echo

# Main-thread CPU time of process PID so far, in nanoseconds.
cpu_ns() {
    awk '{ print $1 }' "/proc/$1/schedstat"
}

# "rps cpu_ns_per_request" of one redis-benchmark run against server PID on PORT.
measure() {
    local pid=$1 port=$2 test=$3 before after rps
    before=$(cpu_ns "$pid")
    rps=$(redis-benchmark -p "$port" -q -t "$test" -P "$PIPELINE" -c "$CLIENTS" -n "$N" --csv |
        awk -F'","' -v t="${test^^}" 'NR > 1 && NF > 1 {
            name = $1; gsub(/"/, "", name)
            if (index(name, t) == 1) { gsub(/"/, "", $2); print $2; exit }
        }')
    after=$(cpu_ns "$pid")
    echo "$rps $(( (after - before) / N ))"
}

max() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 > a + 0) print b; else print a }'
}

min() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }'
}

tracking() {
    local port=$1 value=$2
    [[ $(redis-cli -p "$port" CONFIG SET latency-tracking "$value") == OK ]] ||
        { echo "error: CONFIG SET latency-tracking $value failed on port $port" >&2; exit 1; }
    redis-cli -p "$port" CONFIG RESETSTAT >/dev/null
}

declare -A RPS CPU
printf '%-6s %-5s %12s %12s %8s   %14s %14s %8s\n' server test "rps on" "rps off" "on/off" "CPU ns/req on" "CPU ns/req off" "on/off"
for test in $TESTS; do
    for _ in $(seq 1 "$ROUNDS"); do
        for setting in yes no; do
            for server in redis keel; do
                port=$REDIS_PORT pid=$REDIS_PID
                if [[ $server == keel ]]; then port=$KEEL_PORT pid=$KEEL_PID; fi
                tracking "$port" "$setting"
                read -r rps ns < <(measure "$pid" "$port" "$test")
                key="$server/$test/$setting"
                RPS[$key]=$(max "${RPS[$key]:-}" "$rps")
                CPU[$key]=$(min "${CPU[$key]:-}" "$ns")
            done
        done
    done
    for server in redis keel; do
        on=${RPS[$server/$test/yes]} off=${RPS[$server/$test/no]}
        con=${CPU[$server/$test/yes]} coff=${CPU[$server/$test/no]}
        printf '%-6s %-5s %12.0f %12.0f %8s   %14.0f %14.0f %8s\n' "$server" "$test" "$on" "$off" \
            "$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.3f", a / b }')" "$con" "$coff" \
            "$(awk -v a="$con" -v b="$coff" 'BEGIN { printf "%.3f", a / b }')"
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

# Instructions per request under callgrind (load-independent).
if [[ $CALLGRIND == 1 ]] && command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
    echo
    echo "instructions per request under callgrind (redis-benchmark -P $PIPELINE -c $CLIENTS -n $N_CG):"
    printf '%-6s %-5s %14s %14s %8s\n' server test "Ir/req on" "Ir/req off" "on/off"
    # Ir of one run: zero the counters, run the benchmark, dump, read the dump's total.
    ir_per_request() {
        local pid=$1 port=$2 test=$3 out=$4
        callgrind_control --zero "$pid" >/dev/null 2>&1
        redis-benchmark -p "$port" -q -t "$test" -P "$PIPELINE" -c "$CLIENTS" -n "$N_CG" >/dev/null
        rm -f "$out".*
        callgrind_control --dump "$pid" >/dev/null 2>&1
        sleep 0.5
        local total
        total=$(cat "$out".* 2>/dev/null | awk '/^(summary|totals):/ { print $2; exit }')
        echo $(( ${total:-0} / N_CG ))
    }
    for server in redis keel; do
        out="$WORK/cg-$server"
        if [[ $server == redis ]]; then
            start cg-redis "$WORK/cg-redis.log" valgrind --tool=callgrind --callgrind-out-file="$out" \
                redis-server --save '' --appendonly no --daemonize no --dir "$WORK"
        else
            start cg-keel "$WORK/cg-keel.log" valgrind --tool=callgrind --callgrind-out-file="$out" \
                "$KEEL_BIN" --save '' --appendonly no --dir "$WORK"
        fi
        port=$STARTED_PORT pid=$STARTED_PID
        for test in $TESTS; do
            tracking "$port" yes
            on=$(ir_per_request "$pid" "$port" "$test" "$out")
            tracking "$port" no
            off=$(ir_per_request "$pid" "$port" "$test" "$out")
            printf '%-6s %-5s %14s %14s %8s\n' "$server" "$test" "$on" "$off" \
                "$(awk -v a="$on" -v b="$off" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')"
        done
        redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    done
fi
