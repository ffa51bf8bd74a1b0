#!/usr/bin/env bash
# Order to cash, end to end: `paybridge sandbox` (Cybersource + Zoho, limits off, no latency) in
# one process, `paybridge serve` (SQLite, 16 workers unless WORKERS=, budgets off) in another,
# and a storefront placing ORDERS orders. Prints orders/s and the CPU time of both processes.
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
SECRET=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
cat > "$WORK/sandbox.toml" <<TOML
cybersource_listen = "127.0.0.1:18181"
zoho_listen = "127.0.0.1:18182"
[cybersource]
[[cybersource.keys]]
merchant_id = "bench"
key_id = "bench-key"
shared_secret = "$SECRET"
[zoho.limits]
enabled = false
[[zoho.clients]]
client_id = "1000.BENCH"
client_secret = "bench-secret"
refresh_tokens = ["1000.bench.refresh"]
[[zoho.organizations]]
organization_id = "10234695"
name = "Bench"
currency_code = "USD"
TOML
"${SANDBOX_BIN:-./target/release/paybridge}" sandbox --config "$WORK/sandbox.toml" >"$WORK/sandbox.log" 2>&1 &
SANDBOX=$!
cat > "$WORK/paybridge.toml" <<TOML
[server]
listen = "127.0.0.1:18190"
[store]
path = "$WORK/paybridge.db"
[engine]
workers = ${WORKERS:-16}
test_mode = true
[cybersource]
environment = "http://127.0.0.1:18181/"
merchant_id = "bench"
key_id = "bench-key"
shared_secret_env = "BENCH_SECRET"
[zoho]
accounts_url = "http://127.0.0.1:18182/"
api_domain = "http://127.0.0.1:18182/"
client_id = "1000.BENCH"
client_secret_env = "BENCH_ZOHO_SECRET"
refresh_token_env = "BENCH_ZOHO_REFRESH"
organization_id = "10234695"
base_currency = "USD"
[zoho.quotas]
enabled = false
[storefront]
api_keys_env = "BENCH_STOREFRONT"
TOML
BENCH_SECRET=$SECRET BENCH_ZOHO_SECRET=bench-secret BENCH_ZOHO_REFRESH=1000.bench.refresh \
  BENCH_STOREFRONT=storefront-key-0123456789abcdef RUST_LOG=${RUST_LOG:-warn} \
  "${PAYBRIDGE_BIN:-./target/release/paybridge}" serve --config "$WORK/paybridge.toml" >"$WORK/serve.log" 2>&1 &
PAYBRIDGE=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:18190/readyz" >/dev/null && break
  sleep 0.1
done
if [ -n "${PROFILE:-}" ]; then
  # PROFILE=out.data: sample paybridge's stacks while the load runs (perf, software clock).
  perf record -e cpu-clock -F ${PROFILE_HZ:-299} --call-graph ${PROFILE_GRAPH:-fp} -o "$PROFILE" -p "$PAYBRIDGE" 2>"$WORK/perf.log" &
  PERF=$!
fi
./target/release/examples/o2c_load "http://127.0.0.1:18190/" storefront-key-0123456789abcdef \
  "$ORDERS" "$CONCURRENCY" "$WORK/paybridge.db"
if [ -n "${PROFILE:-}" ]; then kill -INT $PERF; wait $PERF || true; fi
if [ -n "${METRICS:-}" ]; then
  # METRICS=file: paybridge's /metrics at the end (a viewer token made for the purpose).
  TOKEN=$(BENCH_SECRET=$SECRET BENCH_ZOHO_SECRET=bench-secret BENCH_ZOHO_REFRESH=1000.bench.refresh BENCH_STOREFRONT=storefront-key-0123456789abcdef ./target/release/paybridge tokens create --config "$WORK/paybridge.toml" --name bench --role viewer 2>"$WORK/token.log" | grep -o 'pb_[A-Za-z0-9_-]*' | head -1)
  curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:18190/metrics" >"$METRICS" || { echo "metrics: not read"; cat "$WORK/token.log"; }
fi
# utime + stime, in clock ticks (fields 14 and 15 of /proc/PID/stat).
TICKS=$(awk '{print $14 + $15}' "/proc/$PAYBRIDGE/stat")
HZ=$(getconf CLK_TCK)
RSS=$(ps -o rss= -p "$PAYBRIDGE")
SANDBOX_TICKS=$(awk '{print $14 + $15}' "/proc/$SANDBOX/stat")
echo "sandbox: $(echo "scale=2; $SANDBOX_TICKS / $HZ" | bc) s of CPU in all"
echo "paybridge: $(echo "scale=2; $TICKS / $HZ" | bc) s of CPU in all, $(echo "scale=3; $TICKS * 1000 / $HZ / $ORDERS" | bc) ms per order; RSS ${RSS} KB"
