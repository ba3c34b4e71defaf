#!/usr/bin/env bash
# BGSAVE of 1M keys under a write load, keel (fork-less snapshot) versus redis-server
# (fork + copy-on-write), side by side, then SAVE time and startup load time of the same
# dataset. For each server:
#   - $KEYS keys key:000000000000... (values of $VALUE_BYTES bytes), the names the loads
#     below overwrite;
#   - redis-benchmark SET over the same key range (-c 50, no pipelining) runs while a
#     BGSAVE runs; its p99.9 and max latency, and a run without BGSAVE for reference;
#   - the same under a paced load ($PACED_RATE SET/s, open loop, bench/lib.sh
#     paced_writes), with a PING prober before and during the BGSAVE: what a command
#     waits for the save itself when the CPU is not saturated;
#   - peak extra memory during the BGSAVE: keel's RSS rise over its RSS before (and its
#     own rdb_last_cow_size), Redis's rdb_last_cow_size and its child's peak RSS;
#   - SAVE wall time (redis-cli round trip), and the "DB loaded from disk" time of a
#     restart on the saved file.
#
#   bench/bgsave.sh              # KEYS=1000000 VALUE_BYTES=100 LOAD_REQUESTS=400000
set -euo pipefail

# PIN=1: the servers (and Redis's fork child, and keel's disk thread) on CPU 0, the
# loads, the prober and this script on CPU 1, so a PING's wait is the server's own and
# not the two cores' run queue.
PIN=${PIN:-0}
SERVER_PIN=()
if [[ $PIN == 1 ]]; then
    if [[ -z ${BGSAVE_PINNED:-} ]]; then
        BGSAVE_PINNED=1 exec taskset -c 1 "$0" "$@"
    fi
    SERVER_PIN=(taskset -c 0)
fi

KEYS=${KEYS:-1000000}
VALUE_BYTES=${VALUE_BYTES:-100}
LOAD_REQUESTS=${LOAD_REQUESTS:-400000}
PACED_RATE=${PACED_RATE:-20000}
PACED_QUIET_SECS=${PACED_QUIET_SECS:-3}

cd "$(dirname "$0")/.."
source bench/lib.sh

rss_kb() { ps -o rss= -p "$1" 2>/dev/null | tr -d ' ' || echo 0; }
info_field() { redis-cli -p "$1" INFO persistence | tr -d '\r' | awk -F: -v k="$2" '$1==k{print $2}'; }

# p99.9 and max (ms) from redis-benchmark's percentile table.
latency() {
    awk '/^ *99\.9[0-9]*% <=/ && !p999 {p999=$3} /^ *100\.000% <=/ {max=$3} END {printf "p99.9=%sms max=%sms", p999, max}' "$1"
}

bench_load() { # port output
    redis-benchmark -p "$1" -t set -r "$KEYS" -n "$LOAD_REQUESTS" -c 50 -d "$VALUE_BYTES" >"$2" 2>&1
}

# populate PORT: SETs key:000000000000 .. key:<KEYS-1> (the names redis-benchmark -r and
# paced_writes draw), so the loads below overwrite keys of the dataset instead of adding
# new ones: an RSS rise during BGSAVE is then the save's, not the dataset's growth.
populate() {
    python3 - "$KEYS" "$VALUE_BYTES" <<'PY' | redis-cli -p "$1" --pipe >/dev/null
import sys
keys, size = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
for i in range(keys):
    key = b"key:%012d" % i
    value = (b"%d:" % i).ljust(size, b"x")
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value))
PY
}

# bgsave_watch PORT PID PREFIX: BGSAVE with a PING prober (PREFIX.txt) running, sampling
# the server's RSS (and a child's, Redis's fork) every 20 ms until it ends; prints the
# start and end (ns) and the peak RSS of the server and of any child (KB).
bgsave_watch() {
    local port=$1 pid=$2 prefix=$3 peak_rss=0 child_peak=0 t0 t1
    rm -f "$prefix.stop" "$prefix.ready"
    ping_probe "$port" "$prefix.stop" "$prefix.ready" >"$prefix.txt" &
    local probe_pid=$!
    while [[ ! -e $prefix.ready ]]; do sleep 0.01; done
    sleep 0.1
    t0=$(date +%s%N)
    redis-cli -p "$port" BGSAVE >/dev/null
    while :; do
        local r c
        r=$(rss_kb "$pid")
        ((r > peak_rss)) && peak_rss=$r
        for child in $(pgrep -P "$pid" 2>/dev/null || true); do
            c=$(rss_kb "$child")
            ((c > child_peak)) && child_peak=$c
        done
        [[ $(info_field "$port" rdb_bgsave_in_progress) == 0 ]] && break
        sleep 0.02
    done
    t1=$(date +%s%N)
    touch "$prefix.stop"
    wait "$probe_pid"
    echo "$t0 $t1 $peak_rss $child_peak"
}

run() { # name binary args...
    local name=$1 bin=$2
    shift 2
    local dir="$WORK/$name"
    mkdir -p "$dir"
    start "$name" "$dir/log" "${SERVER_PIN[@]}" "$bin" --save '' --appendonly no --dir "$dir" --enable-debug-command yes "$@"
    local port=$STARTED_PORT pid=$STARTED_PID
    populate "$port"
    local base_rss
    base_rss=$(rss_kb "$pid")
    bench_load "$port" "$dir/quiet.txt"
    base_rss=$(rss_kb "$pid")

    # BGSAVE under the saturating load.
    bench_load "$port" "$dir/loaded.txt" &
    local bench_pid=$!
    sleep 0.3
    local t0 t1 peak_rss child_peak ping_max ping_p999 pings
    read -r t0 t1 peak_rss child_peak < <(bgsave_watch "$port" "$pid" "$dir/probe")
    read -r ping_max ping_p999 _ pings <"$dir/probe.txt"
    wait "$bench_pid"
    local cow status
    cow=$(info_field "$port" rdb_last_cow_size)
    status=$(info_field "$port" rdb_last_bgsave_status)

    # BGSAVE under the paced load: the PING prober first without a save, then during one.
    rm -f "$dir/paced.stop" "$dir/quiet-probe.stop"
    paced_writes "$port" "$PACED_RATE" "$KEYS" "$VALUE_BYTES" "$dir/paced.stop" >"$dir/paced.txt" &
    local paced_pid=$!
    sleep 0.5
    ping_probe "$port" "$dir/quiet-probe.stop" >"$dir/quiet-probe.txt" &
    local qprobe_pid=$!
    sleep "$PACED_QUIET_SECS"
    touch "$dir/quiet-probe.stop"
    wait "$qprobe_pid"
    local paced_base_rss q_max q_p999 q_pings
    read -r q_max q_p999 _ q_pings <"$dir/quiet-probe.txt"
    paced_base_rss=$(rss_kb "$pid")
    # The server's own account of its stalls: every latency event of 1 ms or more
    # (keel's `snapshot-slice`, one step of the walk; Redis's `fork`; `command`, ...).
    redis-cli -p "$port" CONFIG SET latency-monitor-threshold 1 >/dev/null
    redis-cli -p "$port" LATENCY RESET >/dev/null
    local p0 p1 p_peak_rss p_child_peak p_max p_p999 p_pings
    read -r p0 p1 p_peak_rss p_child_peak < <(bgsave_watch "$port" "$pid" "$dir/paced-probe")
    local events
    events=$(redis-cli -p "$port" LATENCY LATEST | awk 'NR % 4 == 1 {n=$0} NR % 4 == 0 {printf "%s max %s ms; ", n, $0}')
    redis-cli -p "$port" CONFIG SET latency-monitor-threshold 0 >/dev/null
    read -r p_max p_p999 _ p_pings <"$dir/paced-probe.txt"
    touch "$dir/paced.stop"
    wait "$paced_pid"
    local p_cow
    p_cow=$(info_field "$port" rdb_last_cow_size)

    local dataset_kb=$base_rss

    # SAVE, then a restart on the file.
    local s0 s1
    s0=$(date +%s%N)
    redis-cli -p "$port" SAVE >/dev/null
    s1=$(date +%s%N)
    local file_mb
    file_mb=$(du -m "$dir/dump.rdb" | cut -f1)
    redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait "$pid" 2>/dev/null || true
    "${SERVER_PIN[@]}" "$bin" --save '' --appendonly no --dir "$dir" --port "$port" >"$dir/log2" 2>&1 &
    local pid2=$!
    PIDS+=("$pid2")
    for _ in $(seq 1 600); do
        grep -q "DB loaded from disk" "$dir/log2" && break
        sleep 0.05
    done
    local load_secs
    load_secs=$(grep -o "DB loaded from disk: [0-9.]* seconds" "$dir/log2" | awk '{print $5}')
    redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true

    printf '%-6s BGSAVE %s in %d ms | RSS before %d MB, peak rise %d MB (%.1f%% of RSS) | rdb_last_cow_size %.1f MB | child peak RSS %d MB\n' \
        "$name" "$status" $(((t1 - t0) / 1000000)) $((base_rss / 1024)) $(((peak_rss - base_rss) / 1024)) \
        "$(echo "scale=3; ($peak_rss - $base_rss) * 100 / $dataset_kb" | bc)" "$(echo "scale=1; ${cow:-0} / 1048576" | bc)" $((child_peak / 1024))
    printf '%-6s SET latency without BGSAVE: %s | during BGSAVE: %s | PING prober during BGSAVE: p99.9=%sms max=%sms (%s PINGs)\n' "$name" "$(latency "$dir/quiet.txt")" "$(latency "$dir/loaded.txt")" "$ping_p999" "$ping_max" "$pings"
    printf '%-6s paced %d SET/s (%s): PING prober without BGSAVE p99.9=%sms max=%sms (%s PINGs) | during BGSAVE (%d ms) p99.9=%sms max=%sms (%s PINGs) | RSS peak rise %d MB (%.1f%% of RSS) | rdb_last_cow_size %.1f MB | child peak RSS %d MB\n' \
        "$name" "$PACED_RATE" "$(cat "$dir/paced.txt" | awk '{print $1 " sent, " $2 " replies"}')" "$q_p999" "$q_max" "$q_pings" $(((p1 - p0) / 1000000)) "$p_p999" "$p_max" "$p_pings" \
        $(((p_peak_rss - paced_base_rss) / 1024)) "$(echo "scale=3; ($p_peak_rss - $paced_base_rss) * 100 / $paced_base_rss" | bc)" "$(echo "scale=1; ${p_cow:-0} / 1048576" | bc)" $((p_child_peak / 1024))
    printf '%-6s latency events (threshold 1 ms) during the paced BGSAVE: %s\n' "$name" "${events:-none}"
    printf '%-6s SAVE %d ms (%d MB file) | startup load %s s\n' "$name" $(((s1 - s0) / 1000000)) "$file_mb" "${load_secs:-?}"
}

echo "PIN=$PIN keys=$KEYS value=${VALUE_BYTES}B load: redis-benchmark -t set -r $KEYS -n $LOAD_REQUESTS -c 50"
run keel "$KEEL_BIN"
run redis redis-server --daemonize no
