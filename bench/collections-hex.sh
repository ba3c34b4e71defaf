#!/usr/bin/env bash
# Throughput of reads and writes of small hashes and lists whose fields, values and
# elements are hex or decimal digits (the entries keel packs two digits a byte), keel
# versus redis-server, and versus an older keel build when BEFORE is given:
#   HSET  hset h:<rand> <rand> <rand>      (12-digit decimal fields and values, packed)
#   HGET  hget h:<rand> 0000000000000005   (10-field hashes of 16-hex-digit pairs)
#   LPUSH lpush hexl:<rand> <rand>
#   LRANGE_100  lrange hexlist 0 99        (1000 random 16-hex-digit elements)
#
#   bench/collections-hex.sh
#   BEFORE=path/to/older/keel-server N=200000 ROUNDS=3 bench/collections-hex.sh
#
# redis-benchmark -c 50 at -P 1 and -P 16, best of ROUNDS, servers alternated. Short
# and indicative: on a shared 2-core machine runs of one build move by 10-30%.
set -euo pipefail

N=${N:-200000}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-"1 16"}
TESTS=${TESTS:-"HSET HGET LPUSH LRANGE_100"}

cd "$(dirname "$0")/.."
source bench/lib.sh

start redis-server "$WORK/redis.log" redis-server --save '' --appendonly no --daemonize no --dir "$WORK"
NAMES=(redis keel)
PORTS=("$STARTED_PORT")
start keel-server "$WORK/keel.log" "$KEEL_BIN" --save '' --appendonly no --dir "$WORK"
PORTS+=("$STARTED_PORT")
if [[ -n ${BEFORE:-} ]]; then
    start keel-before "$WORK/before.log" "$BEFORE" --save '' --appendonly no --dir "$WORK"
    NAMES+=(before)
    PORTS+=("$STARTED_PORT")
fi

# The read tests' data: 10k hashes h:%012d of 10 random 16-hex-digit values under the
# fields %016x of 0..9, and one list of 1000 random 16-hex-digit elements.
python3 - "$WORK/load.resp" <<'PY'
import random, sys
rng = random.Random(7)
def cmd(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)
with open(sys.argv[1], "wb") as f:
    for k in range(10_000):
        args = ["HSET", "h:%012d" % k]
        for i in range(10):
            args += ["%016x" % i, "%016x" % rng.getrandbits(64)]
        f.write(cmd(args))
    f.write(cmd(["RPUSH", "hexlist"] + ["%016x" % rng.getrandbits(64) for _ in range(1000)]))
PY
for port in "${PORTS[@]}"; do
    redis-cli -p "$port" --pipe <"$WORK/load.resp" >/dev/null
done

command_of() {
    case $1 in
        HSET) echo "hset h:__rand_int__ __rand_int__ __rand_int__" ;;
        HGET) echo "hget h:__rand_int__ 0000000000000005" ;;
        LPUSH) echo "lpush hexl:__rand_int__ __rand_int__" ;;
        LRANGE_100) echo "lrange hexlist 0 99" ;;
    esac
}

rps() {
    local port=$1 test=$2 pipeline=$3
    # shellcheck disable=SC2046
    redis-benchmark -p "$port" -q -c "$CLIENTS" -n "$N" -P "$pipeline" -r 10000 --csv \
        $(command_of "$test") | awk -F'","' 'NR > 1 && NF > 1 { gsub(/"/, "", $2); print $2; exit }'
}

echo "# hex collections throughput (requests/s), best of $ROUNDS, -c $CLIENTS -n $N"
echo "date: $(date -u '+%Y-%m-%dT%H:%M:%SZ')  keel: $(git rev-parse --short HEAD 2>/dev/null || echo '?')  before: ${BEFORE:-none}"
printf '%-12s %3s' test P
for name in "${NAMES[@]}"; do printf ' %10s' "$name"; done
printf ' %10s' keel/redis
[[ -n ${BEFORE:-} ]] && printf ' %12s' keel/before
echo
for test in $TESTS; do
    for p in $PIPELINES; do
        declare -A BEST=()
        for _ in $(seq 1 "$ROUNDS"); do
            for i in "${!NAMES[@]}"; do
                r=$(rps "${PORTS[$i]}" "$test" "$p")
                BEST[${NAMES[$i]}]=$(awk -v a="${BEST[${NAMES[$i]}]:-}" -v b="$r" \
                    'BEGIN { if (a == "" || b + 0 > a + 0) print b; else print a }')
            done
        done
        printf '%-12s %3s' "$test" "$p"
        for name in "${NAMES[@]}"; do printf ' %10s' "${BEST[$name]}"; done
        printf ' %10s' "$(awk -v k="${BEST[keel]}" -v r="${BEST[redis]}" 'BEGIN { printf "%.2f", k / r }')"
        [[ -n ${BEFORE:-} ]] && printf ' %12s' "$(awk -v k="${BEST[keel]}" -v b="${BEST[before]}" 'BEGIN { printf "%.2f", k / b }')"
        echo
    done
done
