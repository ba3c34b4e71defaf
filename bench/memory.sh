#!/usr/bin/env bash
# Memory per key of keel versus redis-server: 1M string keys with 16-byte values.
#
#   bench/memory.sh              # KEYS=1000000 SIZE=16
#   KEYS=100000 bench/memory.sh
#   TTL=1 bench/memory.sh        # every key with a TTL: `SET key:N <SIZE bytes> EX 100000`
#                                # through `redis-cli --pipe` instead of DEBUG POPULATE
#
# Starts both servers (release keel; debug commands enabled), measures used_memory
# (INFO memory) and RSS (VmRSS of /proc/PID/status) while empty, loads the keys with
# `DEBUG POPULATE KEYS key SIZE` and measures again; prints the deltas per key and the
# keel/redis ratios.
set -euo pipefail

KEYS=${KEYS:-1000000}
SIZE=${SIZE:-16}
TTL=${TTL:-0}

cd "$(dirname "$0")/.."
ROOT=$(pwd)

source bench/lib.sh

used_memory() {
    redis-cli -p "$1" INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'
}

rss_bytes() {
    awk '$1 == "VmRSS:" { print $2 * 1024 }' "/proc/$1/status"
}

start redis-server "$WORK/redis.log" redis-server --save '' --appendonly no --daemonize no --dir "$WORK" \
    --enable-debug-command yes
REDIS_PORT=$STARTED_PORT REDIS_PID=$STARTED_PID
start keel-server "$WORK/keel.log" "$KEEL_BIN" --save '' --appendonly no --dir "$WORK" --enable-debug-command yes
KEEL_PORT=$STARTED_PORT KEEL_PID=$STARTED_PID

cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
if [[ $TTL == 1 ]]; then how="SET ... EX 100000 via redis-cli --pipe"; else how="DEBUG POPULATE"; fi
echo "# keel vs redis memory: $KEYS string keys, $SIZE-byte values ($how)"
echo "date:   $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "host:   $(nproc) CPUs, ${cpu_model:-unknown CPU}"
echo "redis:  $(redis-server --version)"
echo "keel:   $("$KEEL_BIN" --version) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit'))"
echo

declare -A USED0 RSS0 USED1 RSS1
for name in redis keel; do
    if [[ $name == redis ]]; then port=$REDIS_PORT pid=$REDIS_PID; else port=$KEEL_PORT pid=$KEEL_PID; fi
    USED0[$name]=$(used_memory "$port")
    RSS0[$name]=$(rss_bytes "$pid")
    if [[ $TTL == 1 ]]; then
        awk -v n="$KEYS" -v size="$SIZE" 'BEGIN {
            v = sprintf("%0" size "d", 0)
            for (i = 0; i < n; i++) {
                k = "key:" i
                printf "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$2\r\nEX\r\n$6\r\n100000\r\n", length(k), k, size, v
            }
        }' | redis-cli -p "$port" --pipe >/dev/null
    else
        reply=$(redis-cli -p "$port" DEBUG POPULATE "$KEYS" key "$SIZE")
        [[ $reply == OK ]] || { echo "error: DEBUG POPULATE on $name: $reply" >&2; exit 1; }
    fi
    dbsize=$(redis-cli -p "$port" DBSIZE)
    [[ $dbsize == "$KEYS" ]] || { echo "error: $name has $dbsize keys, expected $KEYS" >&2; exit 1; }
    sleep 1 # let RSS settle
    USED1[$name]=$(used_memory "$port")
    RSS1[$name]=$(rss_bytes "$pid")
done

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1048576 }'; }
per_key() { awk -v a="$1" -v b="$2" -v n="$KEYS" 'BEGIN { printf "%.1f", (b - a) / n }'; }

printf '%-6s %14s %14s %14s %14s %16s %12s\n' server "used empty" "used loaded" "RSS empty" "RSS loaded" "used B/key" "RSS B/key"
for name in redis keel; do
    printf '%-6s %14s %14s %14s %14s %16s %12s\n' "$name" \
        "$(mb "${USED0[$name]}")" "$(mb "${USED1[$name]}")" "$(mb "${RSS0[$name]}")" "$(mb "${RSS1[$name]}")" \
        "$(per_key "${USED0[$name]}" "${USED1[$name]}")" "$(per_key "${RSS0[$name]}" "${RSS1[$name]}")"
done
echo
awk -v ru0="${USED0[redis]}" -v ru1="${USED1[redis]}" -v ku0="${USED0[keel]}" -v ku1="${USED1[keel]}" \
    -v rr0="${RSS0[redis]}" -v rr1="${RSS1[redis]}" -v kr0="${RSS0[keel]}" -v kr1="${RSS1[keel]}" 'BEGIN {
    ru = ru1 - ru0; ku = ku1 - ku0; rr = rr1 - rr0; kr = kr1 - kr0
    printf "keel/redis used_memory per key: %s\n", (ru > 0 ? sprintf("%.2f", ku / ru) : "n/a")
    printf "keel/redis RSS per key:         %s\n", (rr > 0 ? sprintf("%.2f", kr / rr) : "n/a")
}'
