#!/bin/bash
# Plants keel-core bugs written without a checker in mind (sim/scripts/outsider_bugs.py),
# one at a time, and sweeps each with the reference model off; reverts core after each.
# Careful: it reverts core/src/commands/, core/src/keyspace/ and core/src/slab/ with git
# checkout after each bug (commit first, and commit nothing while it runs).
#
#   sim/scripts/outsider-bugs.sh                 # every bug, scenarios encodings plain-load chaos
#   SCENARIOS="expiry chaos" sim/scripts/outsider-bugs.sh ttl-moved-not-repointed
cd "$(dirname "$0")/../.."
PATCHED=(core/src/commands core/src/keyspace core/src/slab)
git diff --quiet -- "${PATCHED[@]}" ||
  { echo "uncommitted changes under ${PATCHED[*]}: commit first" >&2; exit 1; }
BUGS=("$@")
if [[ ${#BUGS[@]} == 0 ]]; then
  BUGS=(linsert-old-length hdel-counts-every-field zrem-stops-after-first ltrim-keeps-one-more zadd-xx-adds-new smove-missing-member-says-moved lpushx-creates-key ttl-moved-not-repointed ttl-dense-drops-one ttl-page-one-short index-dir-half-short index-split-wrong-bit index-collapse-skips-first index-split-bytes-forgotten)
fi
SCENARIOS=${SCENARIOS:-encodings plain-load chaos}
for b in "${BUGS[@]}"; do
  python3 sim/scripts/outsider_bugs.py $b || { echo "$b: patch failed"; continue; }
  cargo build --release -p keel-sim --features mutants 2>&1 | grep -E "^error" -A5
  for s in $SCENARIOS; do
    r=$(./target/release/keel-sim sweep --scenario $s --seeds 200 --jobs 2 --checkers linearizability,elle,resource,shadow,durability,replication,pubsub,psync,blocking 2>/dev/null | grep -E "^total|verdicts" | tr '\n' ' ')
    echo "$b $s: $r"
  done
  git checkout -q -- "${PATCHED[@]}"
done
cargo build --release -p keel-sim --features mutants 2>&1 | grep -E "^error" -A5
echo done
