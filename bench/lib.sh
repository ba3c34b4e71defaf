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
