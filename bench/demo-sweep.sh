#!/usr/bin/env bash
# The demo across seeds: `paybridge demo --orders ORDERS --seed S --json` for each seed in
# SEEDS (default 1..20), release build, one after another. Prints one line per run — seed,
# wall time, approved / declined, whether the demo's own verification passed — and exits
# non-zero if any run failed (its output is kept in $OUT/seed-S.log).
# Usage: bench/demo-sweep.sh [orders]   (SEEDS="4 5 8 11" to choose; OUT=dir to keep logs)
set -euo pipefail
ORDERS=${1:-1000}
SEEDS=${SEEDS:-$(seq 1 20)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d)}
cd "$ROOT"
cargo build --release --quiet --bin paybridge
FAILED=0
printf '%-5s %9s %9s %9s %s\n' seed seconds approved declined verified
for SEED in $SEEDS; do
  DATA=$(mktemp -d)
  START=$(date +%s.%N)
  if ./target/release/paybridge demo --orders "$ORDERS" --seed "$SEED" --json --data-dir "$DATA" \
      > "$OUT/seed-$SEED.json" 2> "$OUT/seed-$SEED.log"; then STATUS=ok; else STATUS=failed; FAILED=1; fi
  END=$(date +%s.%N)
  SUMMARY=$(python3 -c 'import json,sys
try:
    s = json.load(open(sys.argv[1]))
    print(s.get("approved"), s.get("declined"), s.get("verification", {}).get("ok"))
except Exception:
    print("- - -")' "$OUT/seed-$SEED.json")
  read -r APPROVED DECLINED VERIFIED <<< "$SUMMARY"
  printf '%-5s %9.1f %9s %9s %s %s\n' "$SEED" "$(echo "$END - $START" | bc)" "$APPROVED" "$DECLINED" "$VERIFIED" "$STATUS"
  rm -rf "$DATA"
done
echo "logs: $OUT"
exit $FAILED
