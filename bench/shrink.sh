#!/usr/bin/env bash
# What mass deletes give back, keel versus redis-server: `DEBUG POPULATE` 1M string
# keys (16-byte values), delete all but 10k (DEL of 1000 keys a command), wait for
# both crons to finish shrinking their index, then MEMORY PURGE. Prints used_memory
# and RSS at each stage. Under 60 s.
#
#   bench/shrink.sh                  # KEYS=1000000 KEEP=10000 SIZE=16
#   KEEP_EVERY=100 bench/shrink.sh   # keep every 100th key instead (scattered survivors)
set -euo pipefail

KEYS=${KEYS:-1000000}
KEEP=${KEEP:-10000}
SIZE=${SIZE:-16}
SETTLE=${SETTLE:-3}
KEEP_EVERY=${KEEP_EVERY:-0}

cd "$(dirname "$0")/.."
source bench/lib.sh

used_memory() {
    redis-cli -p "$1" INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'
}
rss_bytes() {
    awk '$1 == "VmRSS:" { print $2 * 1024 }' "/proc/$1/status"
}
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

start redis-server "$WORK/redis.log" redis-server --save '' --appendonly no --daemonize no --dir "$WORK" \
    --enable-debug-command yes
REDIS_PORT=$STARTED_PORT REDIS_PID=$STARTED_PID
start keel-server "$WORK/keel.log" "$KEEL_BIN" --save '' --appendonly no --dir "$WORK" --enable-debug-command yes
KEEL_PORT=$STARTED_PORT KEEL_PID=$STARTED_PID

# DEL key:KEEP .. key:KEYS-1 (or, with KEEP_EVERY=n, every key but each n-th), 1000
# keys a line (redis-cli reads one command a line).
awk -v from="$KEEP" -v to="$KEYS" -v every="$KEEP_EVERY" 'BEGIN {
    if (every > 0) from = 0
    n = 0; line = "DEL"
    for (i = from; i < to; i++) {
        if (every > 0 && i % every == 0) continue
        line = line " key:" i
        if (++n == 1000) { print line; n = 0; line = "DEL" }
    }
    if (n > 0) print line
}' >"$WORK/dels.txt"

echo "# mass delete: $KEYS keys of $SIZE bytes, keep $( ((KEEP_EVERY > 0)) && echo "every ${KEEP_EVERY}th" || echo "$KEEP") ($(date -u '+%Y-%m-%dT%H:%M:%SZ'), $(nproc) CPUs)"
echo "# keel $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(redis-server --version | awk '{print $3}')"
printf '%-6s %-22s %12s %10s %8s\n' server stage used_MB RSS_MB keys
for name in redis keel; do
    if [[ $name == redis ]]; then port=$REDIS_PORT pid=$REDIS_PID; else port=$KEEL_PORT pid=$KEEL_PID; fi
    row() { printf '%-6s %-22s %12s %10s %8s\n' "$name" "$1" "$(mb "$(used_memory "$port")")" "$(mb "$(rss_bytes "$pid")")" "$(redis-cli -p "$port" DBSIZE)"; }
    row empty
    [[ $(redis-cli -p "$port" DEBUG POPULATE "$KEYS" key "$SIZE") == OK ]] || { echo "error: populate on $name" >&2; exit 1; }
    sleep 1
    row populated
    redis-cli -p "$port" <"$WORK/dels.txt" >/dev/null
    row "deleted"
    sleep "$SETTLE"
    row "after ${SETTLE}s of cron"
    redis-cli -p "$port" MEMORY PURGE >/dev/null || true
    sleep 1
    row "after MEMORY PURGE"
done
