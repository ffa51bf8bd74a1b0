#!/usr/bin/env bash
# Order to cash, end to end: `paybridge sandbox` (Cybersource + Zoho, limits off, no latency) in
# one process, `paybridge serve` (SQLite, 16 workers unless WORKERS=, budgets off) in another,
# and a storefront placing ORDERS orders. Prints orders/s and the CPU time of both processes
# (paybridge's per order placed and per order synced to Zoho; needs the sqlite3 shell).
# PROFILE=file records paybridge with perf; METRICS=file keeps its /metrics at the end;
# PAYBRIDGE_BIN=path serves with another build (to compare two builds within one session),
# SANDBOX_BIN=path runs the sandboxes of another build.
# Usage: bench/o2c.sh [orders] [concurrency]   (builds in release mode)
set -euo pipefail
ORDERS=${1:-2000}
CONCURRENCY=${2:-32}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'kill $SANDBOX $PAYBRIDGE 2>/dev/null || true; [ -n "${KEEP_LOG:-}" ] && cp "$WORK/serve.log" "$KEEP_LOG"; [ -n "${KEEP_DB:-}" ] && cp "$WORK"/paybridge.db* "$KEEP_DB"/; rm -rf "$WORK"' EXIT
cd "$ROOT"
cargo build --release --quiet --bin paybridge --example o2c_load
PORTS=18180 BENCH_WORKERS=${WORKERS:-16}
ZOHO_LIMITS="enabled = false"
ZOHO_QUOTAS="enabled = false"
source bench/o2c-setup.sh
if [ -n "${PROFILE:-}" ]; then
  # PROFILE=out.data: sample paybridge's stacks while the load runs (perf, software clock).
  perf record -e cpu-clock -F ${PROFILE_HZ:-299} --call-graph ${PROFILE_GRAPH:-fp} -o "$PROFILE" -p "$PAYBRIDGE" 2>"$WORK/perf.log" &
  PERF=$!
fi
./target/release/examples/o2c_load "$PAYBRIDGE_URL" "$STOREFRONT_KEY" \
  "$ORDERS" "$CONCURRENCY" "$WORK/paybridge.db"
if [ -n "${PROFILE:-}" ]; then kill -INT $PERF; wait $PERF || true; fi
# METRICS=file: paybridge's /metrics at the end.
if [ -n "${METRICS:-}" ]; then bench_metrics "$METRICS"; fi
# utime + stime, in clock ticks (fields 14 and 15 of /proc/PID/stat).
TICKS=$(awk '{print $14 + $15}' "/proc/$PAYBRIDGE/stat")
HZ=$(getconf CLK_TCK)
RSS=$(ps -o rss= -p "$PAYBRIDGE")
SANDBOX_TICKS=$(awk '{print $14 + $15}' "/proc/$SANDBOX/stat")
echo "sandbox: $(echo "scale=2; $SANDBOX_TICKS / $HZ" | bc) s of CPU in all"
# Synced orders: those that ended as an invoice and a payment in Zoho (declined ones did not).
SYNCED=$(sqlite3 -readonly "$WORK/paybridge.db" "SELECT COUNT(*) FROM orders WHERE status = 'completed'")
echo "paybridge: $(echo "scale=2; $TICKS / $HZ" | bc) s of CPU in all, $(echo "scale=3; $TICKS * 1000 / $HZ / $ORDERS" | bc) ms per order placed, $(echo "scale=3; $TICKS * 1000 / $HZ / $SYNCED" | bc) ms per synced order ($SYNCED); RSS ${RSS} KB"
# Bytes paybridge wrote (write and pwrite calls: the WAL, checkpoints, sockets), per order.
WCHAR=$(awk '/^wchar/ {print $2}' "/proc/$PAYBRIDGE/io")
echo "paybridge: $(echo "$WCHAR / 1024 / $ORDERS" | bc) KB written per order"
