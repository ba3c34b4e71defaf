#!/usr/bin/env bash
# Replica lag under a steady write load, keel and redis-server side by side: each
# master with one replica of its own kind on loopback, redis-benchmark SET (-c 10, no
# pipelining, random keys) running against the master, and a prober that every 10 ms
# writes a unique key to the master and polls the replica until it reads it back.
# The lag is the time from the master's +OK to the replica serving the key (a
# replica read-only GET, so it measures the stream, the replica's apply and one round
# trip). Prints p50, p99 and max per server.
#
# Two loads, each server under both: `saturating` is redis-benchmark -c 10 (closed
# loop: the three processes fight for the 2 cores, so the lag is mostly waiting for a
# CPU); `paced` is bench/lib.sh's open-loop paced_writes at PACED_RATE SET/s, a steady
# load that leaves CPU to spare, so the lag is the stream's own.
#
#   bench/repl-lag.sh            # SECONDS_LOAD=10 PACED_RATE=20000 LOADS="saturating paced"
set -euo pipefail

SECONDS_LOAD=${SECONDS_LOAD:-10}
PACED_RATE=${PACED_RATE:-20000}
LOADS=${LOADS:-saturating paced}

cd "$(dirname "$0")/.."
source bench/lib.sh

field() { redis-cli -p "$1" INFO replication | tr -d '\r' | awk -F: -v k="$2" '$1==k{print $2}'; }

probe() { # probe MASTER REPLICA SECONDS: prints "p50 p99 max samples" in ms
    python3 - "$1" "$2" "$3" <<'PY'
import socket, sys, time
master, replica, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def conn(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
def call(s, *args):
    s.sendall(("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)).encode())
    buf = b""
    while True:
        buf += s.recv(4096)
        if buf.endswith(b"\r\n") and (not buf.startswith(b"$") or buf == b"$-1\r\n" or buf.count(b"\r\n") >= 2):
            return buf
m, r = conn(master), conn(replica)
lags, end, i = [], time.time() + seconds, 0
while time.time() < end:
    i += 1
    key = "lagprobe:%d" % i
    call(m, "SET", key, "x")
    t0 = time.perf_counter()
    while call(r, "GET", key) == b"$-1\r\n":
        if time.perf_counter() - t0 > 5:
            break
    lags.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.01)
lags.sort()
pick = lambda q: lags[min(len(lags) - 1, int(len(lags) * q))]
print("%.3f %.3f %.3f %d" % (pick(0.5), pick(0.99), lags[-1], len(lags)))
PY
}

printf '%-11s %-6s %10s %10s %10s %8s\n' load server "p50 ms" "p99 ms" "max ms" samples
for loadname in $LOADS; do
for name in keel redis; do
    if [[ $name == keel ]]; then bin=$KEEL_BIN; else bin=redis-server; fi
    extra=()
    [[ $name == redis ]] && extra=(--daemonize no)
    mkdir -p "$WORK/$name-m" "$WORK/$name-r"
    start "$name-master" "$WORK/$name-m/log" "$bin" --save "" --appendonly no --dir "$WORK/$name-m" \
        --repl-diskless-sync yes --repl-diskless-sync-delay 0 "${extra[@]}"
    master=$STARTED_PORT
    start "$name-replica" "$WORK/$name-r/log" "$bin" --save "" --appendonly no --dir "$WORK/$name-r" "${extra[@]}"
    replica=$STARTED_PORT
    redis-cli -p "$replica" REPLICAOF 127.0.0.1 "$master" >/dev/null
    for _ in $(seq 1 3000); do
        [[ $(field "$replica" master_link_status) == up ]] && break
        sleep 0.01
    done
    rm -f "$WORK/paced.stop"
    if [[ $loadname == paced ]]; then
        paced_writes "$master" "$PACED_RATE" 100000 3 "$WORK/paced.stop" >/dev/null &
    else
        timeout $((SECONDS_LOAD + 20)) redis-benchmark -p "$master" -t set -c 10 -r 100000 \
            -n 100000000 -q >/dev/null 2>&1 &
    fi
    load=$!
    sleep 1
    read -r p50 p99 max samples < <(probe "$master" "$replica" "$SECONDS_LOAD")
    touch "$WORK/paced.stop"
    kill "$load" 2>/dev/null || true
    wait "$load" 2>/dev/null || true
    printf '%-11s %-6s %10s %10s %10s %8s\n' "$loadname" "$name" "$p50" "$p99" "$max" "$samples"
    redis-cli -p "$replica" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    redis-cli -p "$master" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
done
done
