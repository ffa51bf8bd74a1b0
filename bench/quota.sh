#!/usr/bin/env bash
# Demand far over Zoho's budget: the Zoho sandbox enforcing Books' 100 requests a minute,
# `paybridge serve` metering its Books calls through a budget of 100 a minute, and a storefront
# placing ORDERS orders at once (each needs 3 to 5 Books calls: about ten minutes of budget).
# After SECONDS seconds: Books calls made (share of the budget the elapsed time allowed), 429s
# Zoho answered, and whether each customer's runs finished in the order they were queued.
# Usage: bench/quota.sh [orders] [seconds]   (builds in release mode; KEEP=dir keeps the logs,
# metrics and store)
set -euo pipefail
ORDERS=${1:-300}
SECONDS_RUN=${2:-180}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'kill $SANDBOX $PAYBRIDGE $LOAD 2>/dev/null || true; [ -n "${KEEP:-}" ] && cp -r "$WORK" "$KEEP"; rm -rf "$WORK"' EXIT
cd "$ROOT"
cargo build --release --quiet --bin paybridge --example o2c_load
SECRET=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
cat > "$WORK/sandbox.toml" <<TOML
cybersource_listen = "127.0.0.1:18281"
zoho_listen = "127.0.0.1:18282"
[cybersource]
[[cybersource.keys]]
merchant_id = "bench"
key_id = "bench-key"
shared_secret = "$SECRET"
[zoho.limits]
enabled = true
books_per_minute = 100
books_per_day = 100000
[[zoho.clients]]
client_id = "1000.BENCH"
client_secret = "bench-secret"
refresh_tokens = ["1000.bench.refresh"]
[[zoho.organizations]]
organization_id = "10234695"
name = "Bench"
currency_code = "USD"
TOML
./target/release/paybridge sandbox --config "$WORK/sandbox.toml" >"$WORK/sandbox.log" 2>&1 &
SANDBOX=$!
cat > "$WORK/paybridge.toml" <<TOML
[server]
listen = "127.0.0.1:18290"
[store]
path = "$WORK/paybridge.db"
[engine]
workers = 16
test_mode = true
[cybersource]
environment = "http://127.0.0.1:18281/"
merchant_id = "bench"
key_id = "bench-key"
shared_secret_env = "BENCH_SECRET"
[zoho]
accounts_url = "http://127.0.0.1:18282/"
api_domain = "http://127.0.0.1:18282/"
client_id = "1000.BENCH"
client_secret_env = "BENCH_ZOHO_SECRET"
refresh_token_env = "BENCH_ZOHO_REFRESH"
organization_id = "10234695"
base_currency = "USD"
[zoho.quotas]
books_per_minute = 100
books_per_day = 100000
[storefront]
api_keys_env = "BENCH_STOREFRONT"
TOML
export BENCH_SECRET=$SECRET BENCH_ZOHO_SECRET=bench-secret BENCH_ZOHO_REFRESH=1000.bench.refresh \
  BENCH_STOREFRONT=storefront-key-0123456789abcdef
RUST_LOG=${RUST_LOG:-warn} "${PAYBRIDGE_BIN:-./target/release/paybridge}" serve --config "$WORK/paybridge.toml" >"$WORK/serve.log" 2>&1 &
PAYBRIDGE=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:18290/readyz" >/dev/null && break
  sleep 0.1
done
START=$(date +%s.%N)
./target/release/examples/o2c_load "http://127.0.0.1:18290/" storefront-key-0123456789abcdef \
  "$ORDERS" 32 "$WORK/paybridge.db" >"$WORK/load.log" 2>&1 &
LOAD=$!
sleep "$SECONDS_RUN"
ELAPSED=$(echo "$(date +%s.%N) - $START" | bc)
TOKEN=$(./target/release/paybridge tokens create --config "$WORK/paybridge.toml" --name bench --role viewer 2>/dev/null | grep -o 'pb_[A-Za-z0-9_-]*' | head -1)
curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:18290/metrics" >"$WORK/metrics"
python3 - "$WORK/metrics" "$WORK/paybridge.db" "$ELAPSED" <<'PY'
import re, sqlite3, sys
metrics, db, elapsed = sys.argv[1], sys.argv[2], float(sys.argv[3])
calls = {}
for line in open(metrics):
    m = re.match(r'paybridge_api_calls_total\{vendor="zoho",route="([^"]+)",status="(\d+)"\} (\d+)', line)
    if m:
        calls[m.group(2)] = calls.get(m.group(2), 0) + int(m.group(3))
made = sum(calls.values())
allowed = 100 * elapsed / 60
print(f"{elapsed:.0f} s: {made} Books calls ({calls}); the budget allowed {allowed:.0f}: {100 * made / allowed:.1f} % used; 429s: {calls.get('429', 0)}")
con = sqlite3.connect(db)
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
