#!/usr/bin/env bash
# SET throughput with the AOF, keel versus redis-server 7.0, all five servers started
# side by side in one run: redis-benchmark SET -P 16 (50 clients, 16-byte values,
# 100k random keys) against keel without AOF, keel and redis with appendfsync
# everysec, keel and redis with appendfsync always. The configurations take turns for
# ROUNDS rounds (the machine's noise hits all alike) and the median is printed; every
# benchmark run is bounded by its request count and a 15 s timeout. Each server
# writes its own appendonlydir under one scratch dir (same disk).
#
#   bench/aof.sh                      # N=500000, N_ALWAYS=100000, ROUNDS=3
#   N=200000 N_ALWAYS=50000 ROUNDS=1 bench/aof.sh
set -euo pipefail

cd "$(dirname "$0")/.."
source bench/lib.sh

N=${N:-500000}
N_ALWAYS=${N_ALWAYS:-100000}
ROUNDS=${ROUNDS:-3}

NAMES=(keel-no-aof keel-everysec redis-everysec keel-always redis-always)
declare -A PORT
launch() { # launch NAME SERVER-CMD...
    local name=$1
    shift
    mkdir -p "$WORK/$name"
    start "$name" "$WORK/$name/log" "$@" --save '' --dir "$WORK/$name"
    PORT[$name]=$STARTED_PORT
}
launch keel-no-aof "$KEEL_BIN" --appendonly no
launch keel-everysec "$KEEL_BIN" --appendonly yes --appendfsync everysec
launch redis-everysec redis-server --appendonly yes --appendfsync everysec --daemonize no
launch keel-always "$KEEL_BIN" --appendonly yes --appendfsync always
launch redis-always redis-server --appendonly yes --appendfsync always --daemonize no

declare -A RESULTS
for round in $(seq 1 "$ROUNDS"); do
    for name in "${NAMES[@]}"; do
        n=$N
        [[ $name == *always ]] && n=$N_ALWAYS
        csv=$(timeout 15 redis-benchmark -p "${PORT[$name]}" -t set -P 16 -c 50 -n "$n" -r 100000 -d 16 --csv 2>/dev/null | tail -n 1 || true)
        rps=$(echo "$csv" | awk -F'","' '{print $2}' | tr -d '"')
        RESULTS[$name]="${RESULTS[$name]:-} ${rps:-0}"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "redis-benchmark -t set -P 16 -c 50 -d 16 -r 100000 (n=$N; always: n=$N_ALWAYS), median of $ROUNDS"
declare -A MED
for name in "${NAMES[@]}"; do
    MED[$name]=$(echo "${RESULTS[$name]}" | median)
    printf '%-16s %12s ops/s   (runs:%s)\n' "$name" "${MED[$name]}" "${RESULTS[$name]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo "keel everysec / keel without AOF: $(ratio "${MED[keel-everysec]}" "${MED[keel-no-aof]}")"
# The same ratio per round (the two ran one after the other), and its median: drift of
# the machine's load between rounds cancels out.
read -ra NOAOF <<<"${RESULTS[keel-no-aof]}"
read -ra EVERYSEC <<<"${RESULTS[keel-everysec]}"
PAIRED=""
for i in "${!NOAOF[@]}"; do
    PAIRED="$PAIRED $(ratio "${EVERYSEC[$i]}" "${NOAOF[$i]}")"
done
echo "keel everysec / keel without AOF, per round:$PAIRED (median $(echo "$PAIRED" | median))"
echo "keel everysec / redis everysec:   $(ratio "${MED[keel-everysec]}" "${MED[redis-everysec]}")"
echo "keel always / redis always:       $(ratio "${MED[keel-always]}" "${MED[redis-always]}")"
