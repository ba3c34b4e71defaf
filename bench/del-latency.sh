#!/usr/bin/env bash
# How long DEL of a 1M-member set and a 1M-member sorted set holds the server, keel
# versus redis-server (Redis frees synchronously by default; keel hands big values to a
# lazyfree thread). Prints the DEL round trip and, for scale, a PING round trip, both
# measured with redis-cli (so each includes redis-cli's own start-up).
#
#   bench/del-latency.sh
set -euo pipefail

cd "$(dirname "$0")/.."
source bench/lib.sh

python3 - "$WORK" <<'PY'
import sys
def cmd(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)
with open(sys.argv[1] + "/load.resp", "wb") as f:
    for s in range(0, 1_000_000, 1000):
        f.write(cmd(["SADD", "bigset"] + ["m:%014d" % i for i in range(s, s + 1000)]))
        z = ["ZADD", "bigzset"]
        for i in range(s, s + 1000):
            z += [str(i), "m:%014d" % i]
        f.write(cmd(z))
PY

start redis-server "$WORK/redis.log" redis-server --save '' --appendonly no --daemonize no --dir "$WORK"
REDIS_PORT=$STARTED_PORT
start keel-server "$WORK/keel.log" "$KEEL_BIN" --save '' --appendonly no --dir "$WORK"
KEEL_PORT=$STARTED_PORT

us() { # round trip of one redis-cli command, in microseconds
    local t0 t1
    t0=$(date +%s%N)
    redis-cli -p "$1" "${@:2}" >/dev/null
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000))
}

printf '%-6s %14s %14s %14s\n' server "PING us" "DEL set us" "DEL zset us"
for name in redis keel; do
    if [[ $name == redis ]]; then port=$REDIS_PORT; else port=$KEEL_PORT; fi
    redis-cli -p "$port" --pipe <"$WORK/load.resp" >/dev/null
    ping=$(us "$port" PING)
    dset=$(us "$port" DEL bigset)
    dzset=$(us "$port" DEL bigzset)
    printf '%-6s %14s %14s %14s\n' "$name" "$ping" "$dset" "$dzset"
done
