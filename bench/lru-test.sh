#!/usr/bin/env bash
# Eviction quality, keel versus redis-server: `redis-cli --lru-test KEYS` (an 80/20
# power-law workload of GETs, a SET on each miss) against each server in turn, with the
# same maxmemory and policy, for allkeys-lru and allkeys-lfu. Prints the hit ratio of
# each, averaged over the run after a warm-up (the first WARMUP_SECS lines).
#
#   bench/lru-test.sh                      # KEYS=1000000 MAXMEMORY=20mb SECS=40
#   KEYS=200000 MAXMEMORY=10mb SECS=20 bench/lru-test.sh
#   KEEL_MAXMEMORY=16400kb bench/lru-test.sh  # keel holding as many keys as Redis in
#                                             # 20mb: the policy's quality alone
set -euo pipefail

KEYS=${KEYS:-1000000}
MAXMEMORY=${MAXMEMORY:-20mb}
SECS=${SECS:-40}
WARMUP_SECS=${WARMUP_SECS:-15}
POLICIES=${POLICIES:-"allkeys-lru allkeys-lfu"}
SAMPLES=${SAMPLES:-5}
KEEL_MAXMEMORY=${KEEL_MAXMEMORY:-$MAXMEMORY}

cd "$(dirname "$0")/.."
ROOT=$(pwd)
source bench/lib.sh

cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo "# redis-cli --lru-test $KEYS, maxmemory $MAXMEMORY (keel $KEEL_MAXMEMORY), maxmemory-samples $SAMPLES, ${SECS}s per run (hit ratio after ${WARMUP_SECS}s)"
echo "date:   $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "host:   $(nproc) CPUs, ${cpu_model:-unknown CPU}"
echo "redis:  $(redis-server --version)"
echo "keel:   $("$KEEL_BIN" --version) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit'))"
echo

# run NAME PORT: the hit percentage averaged over the lines after the warm-up.
run() {
    local out=$WORK/$1.lru
    timeout "$SECS" stdbuf -oL redis-cli -p "$2" --lru-test "$KEYS" >"$out" 2>&1 || true
    tr '\r' '\n' <"$out" | sed -n 's/.*Hits: [0-9]* (\([0-9.]*\)%).*/\1/p' | awk -v skip="$WARMUP_SECS" '
        { n++; if (n > skip) { sum += $1; k++ } }
        END { if (k) printf "%.2f", sum / k; else print "n/a" }'
}

printf '%-12s %-6s %10s %12s %10s\n' policy server "hit %" "evicted" "keys"
for policy in $POLICIES; do
    for name in redis keel; do
        limit=$MAXMEMORY
        [[ $name == keel ]] && limit=$KEEL_MAXMEMORY
        args=(--save '' --appendonly no --dir "$WORK" --maxmemory "$limit" --maxmemory-policy "$policy" --maxmemory-samples "$SAMPLES")
        if [[ $name == redis ]]; then
            start redis-server "$WORK/redis.log" redis-server "${args[@]}" --daemonize no
        else
            start keel-server "$WORK/keel.log" "$KEEL_BIN" "${args[@]}"
        fi
        port=$STARTED_PORT pid=$STARTED_PID
        hit=$(run "$name" "$port")
        evicted=$(redis-cli -p "$port" INFO stats | tr -d '\r' | awk -F: '$1 == "evicted_keys" { print $2 }')
        keys=$(redis-cli -p "$port" DBSIZE)
        printf '%-12s %-6s %10s %12s %10s\n' "$policy" "$name" "$hit" "$evicted" "$keys"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    done
done
