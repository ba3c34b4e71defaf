# Shared by the bench scripts (source it from the repo root): checks the Redis tools,
# builds release keel, and provides a scratch dir, cleanup of started servers, and
# `start NAME LOG CMD...` on a free port.
ROOT=$(pwd)

for tool in redis-server redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

# Build keel (serialised with other cargo runs on this machine when flock exists).
if command -v flock >/dev/null; then
    flock /tmp/keel-cargo.lock cargo build --release -p keel-server >&2
else
    cargo build --release -p keel-server >&2
fi
KEEL_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/keel-server"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keel-bench.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# A TCP port on 127.0.0.1 that nothing listens on.
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    echo "error: no free port" >&2
    return 1
}

# start NAME LOGFILE CMD... : runs CMD (with the port appended as `--port P`) on a free
# port, retrying on another port if it exits early; sets STARTED_PID and STARTED_PORT.
start() {
    local name=$1 log=$2 port pid
    shift 2
    for _ in 1 2 3; do
        port=$(free_port)
        "$@" --port "$port" >"$log" 2>&1 &
        pid=$!
        for _ in $(seq 1 200); do
            if [[ $(redis-cli -p "$port" PING 2>/dev/null || true) == PONG ]]; then
                PIDS+=("$pid")
                STARTED_PID=$pid
                STARTED_PORT=$port
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "warning: $name did not start on port $port; log:" >&2
        tail -n 20 "$log" >&2 || true
    done
    echo "error: $name did not start" >&2
    exit 1
}

# ping_probe PORT STOPFILE [READYFILE]: one PING at a time (0.5 ms apart) until STOPFILE
# exists (READYFILE is created once connected);
# prints the max, p99.9 and p99.99 round trip in ms and the number of PINGs. A stall
# of the event loop shows up here whatever the load's own latency says.
ping_probe() {
    python3 - "$@" <<'PY'
import os, socket, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
if len(sys.argv) > 3:
    open(sys.argv[3], "w").close()
rtts = []
while not os.path.exists(stop):
    t0 = time.perf_counter()
    s.sendall(b"PING\r\n")
    buf = b""
    while not buf.endswith(b"\r\n"):
        buf += s.recv(64)
    rtts.append(time.perf_counter() - t0)
    time.sleep(0.0005)
rtts.sort()
if not rtts:
    rtts = [0.0]
pick = lambda q: rtts[min(len(rtts) - 1, int(len(rtts) * q))] * 1000
print("%.2f %.2f %.2f %d" % (rtts[-1] * 1000, pick(0.999), pick(0.9999), len(rtts)))
PY
}

# paced_writes PORT RATE KEYS VALUE_BYTES STOPFILE: an open-loop write load of RATE SETs
# a second (random keys below KEYS, VALUE_BYTES-byte values) over 8 connections, sent
# in 1 ms ticks whatever the replies do, until STOPFILE exists. Unlike redis-benchmark
# (closed loop: each client sends again at once) it leaves the CPU idle part of the
# time, so a PING's wait shows the server's own stalls, not the queue of 50 saturating
# clients on a 2-core machine. Prints the SETs sent and the replies read.
paced_writes() {
    python3 - "$@" <<'PY'
import os, random, socket, sys, time
port, rate, keys, size, stop = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
conns = []
for _ in range(8):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conns.append(s)
value = b"x" * size
rng = random.Random(1)
sent = replies = 0
tick = 0.001
next_t = time.perf_counter()
carry = 0.0
while not os.path.exists(stop):
    carry += rate * tick
    n = int(carry)
    carry -= n
    for i in range(n):
        key = b"key:%012d" % rng.randrange(keys)
        cmd = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
        conns[(sent + i) % 8].sendall(cmd)
    sent += n
    for s in conns:
        try:
            while True:
                b = s.recv(65536, socket.MSG_DONTWAIT)
                if not b:
                    break
                replies += b.count(b"\r\n")
        except BlockingIOError:
            pass
    next_t += tick
    d = next_t - time.perf_counter()
    if d > 0:
        time.sleep(d)
    else:
        next_t = time.perf_counter()
print(sent, replies)
PY
}
