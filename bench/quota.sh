#!/usr/bin/env bash
# Demand far over Zoho's budget: the Zoho sandbox enforcing Books' 100 requests a minute,
# `paybridge serve` metering its Books calls through a budget of 100 a minute, and a storefront
# placing ORDERS orders at once (each needs 3 to 5 Books calls: about ten minutes of budget).
# After SECONDS seconds: Books calls made (share of what the window allowed since the first), 429s
# Zoho answered, and whether each customer's runs finished in the order they were queued.
# Usage: bench/quota.sh [orders] [seconds]   (builds in release mode; KEEP=dir keeps the logs,
# metrics and store; PAYBRIDGE_BIN= and SANDBOX_BIN= run other builds)
set -euo pipefail
ORDERS=${1:-300}
SECONDS_RUN=${2:-180}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'kill $SANDBOX $PAYBRIDGE $LOAD 2>/dev/null || true; [ -n "${KEEP:-}" ] && cp -r "$WORK" "$KEEP"; rm -rf "$WORK"' EXIT
cd "$ROOT"
cargo build --release --quiet --bin paybridge --example o2c_load
PORTS=18280 BENCH_WORKERS=16
ZOHO_LIMITS="enabled = true
books_per_minute = 100
books_per_day = 100000"
ZOHO_QUOTAS="books_per_minute = 100
books_per_day = 100000"
source bench/o2c-setup.sh
START=$(date +%s.%N)
./target/release/examples/o2c_load "$PAYBRIDGE_URL" "$STOREFRONT_KEY" \
  "$ORDERS" 32 "$WORK/paybridge.db" >"$WORK/load.log" 2>&1 &
LOAD=$!
sleep "$SECONDS_RUN"
ELAPSED=$(echo "$(date +%s.%N) - $START" | bc)
bench_metrics "$WORK/metrics"
python3 - "$WORK/metrics" "$WORK/paybridge.db" "$ELAPSED" <<'PY'
import math, os, re, sqlite3, sys
metrics, db, elapsed = sys.argv[1], sys.argv[2], float(sys.argv[3])
# The calls counted are those made when /metrics was read (the file's time), not now.
read_ms = os.path.getmtime(metrics) * 1000
con = sqlite3.connect(db)
calls = {}
for line in open(metrics):
    m = re.match(r'paybridge_api_calls_total\{vendor="zoho",route="([^"]+)",status="(\d+)"\} (\d+)', line)
    if m:
        calls[m.group(2)] = calls.get(m.group(2), 0) + int(m.group(3))
made = sum(calls.values())
# A window sliding over a minute allows 100 calls in each minute begun since the first call
# (the first run's contact step).
first_ms = con.execute("SELECT MIN(started_at) FROM steps WHERE name = 'contact'").fetchone()[0]
# A read just past a minute's end counts that whole minute, so the rate per minute since the
# first call is given too (over a long run the two agree).
span_min = (read_ms - first_ms) / 60_000 if first_ms else 1
minutes = math.ceil(span_min)
allowed = 100 * minutes
print(f"{elapsed:.0f} s: {made} Books calls ({calls}); {minutes} minute(s) since the first allowed {allowed}: {100 * made / allowed:.1f} % used; "
      f"{made / span_min:.1f} a minute over {60 * span_min:.1f} s; 429s: {calls.get('429', 0)}")
status = dict(con.execute("SELECT status, COUNT(*) FROM orders GROUP BY status").fetchall())
# Runs of one customer never overtake each other: in the order they were queued (as their
# payments were approved), none finished while an earlier one is not, none before the one
# before it.
out_of_order = 0
last = {}
for entity, finished in con.execute(
        "SELECT entity_key, finished_at FROM runs WHERE entity_key LIKE 'customer:%' ORDER BY entity_key, id"):
    before = last.get(entity, 0)
    if finished is not None and (before is None or finished < before):
        out_of_order += 1
    last[entity] = finished
print(f"orders by status {status}; runs finished before an earlier run of their customer: {out_of_order}")
PY
