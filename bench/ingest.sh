#!/usr/bin/env bash
# Webhook ingest: signed Cybersource notifications, each about a new payment, against
# `paybridge serve` (release build, SQLite store) — durable accepts per second and latency.
# Usage: bench/ingest.sh [seconds] [connections]   (builds in release mode)
# PAYBRIDGE_BIN=path serves with another build (to compare two builds within one session).
set -euo pipefail
SECONDS_TO_RUN=${1:-10}
CONNECTIONS=${2:-32}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'kill $PAYBRIDGE 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18090
KEY_ID=bench-key
KEY=c2lnbmluZy1rZXktZm9yLXRoZS1pbmdlc3QtYmVuY2g=
cd "$ROOT"
cargo build --release --quiet --bin paybridge --example ingest_load
cat > "$WORK/paybridge.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
[store]
path = "$WORK/paybridge.db"
[engine]
workers = 4
[cybersource]
environment = "http://127.0.0.1:9/"
merchant_id = "bench"
key_id = "k"
shared_secret_env = "BENCH_SECRET"
[cybersource.webhooks]
[[cybersource.webhooks.keys]]
key_id = "$KEY_ID"
key_env = "BENCH_WEBHOOK_KEY"
[zoho]
accounts_url = "http://127.0.0.1:9/"
api_domain = "http://127.0.0.1:9/"
client_id = "c"
client_secret_env = "BENCH_SECRET"
refresh_token_env = "BENCH_SECRET"
organization_id = "1"
base_currency = "USD"
[zoho.quotas]
enabled = false
[storefront]
api_keys_env = "BENCH_STOREFRONT"
TOML
BENCH_SECRET=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= BENCH_WEBHOOK_KEY=$KEY \
  BENCH_STOREFRONT=storefront-key-0123456789abcdef RUST_LOG=warn \
  "${PAYBRIDGE_BIN:-./target/release/paybridge}" serve --config "$WORK/paybridge.toml" >"$WORK/serve.log" 2>&1 &
PAYBRIDGE=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.1
done
if [ -n "${PROFILE:-}" ]; then
  # PROFILE=out.data: sample paybridge's stacks while the load runs (perf, software clock).
  perf record -e cpu-clock -F 999 --call-graph dwarf -o "$PROFILE" -p "$PAYBRIDGE" 2>"$WORK/perf.log" &
  PERF=$!
fi
./target/release/examples/ingest_load "http://127.0.0.1:$PORT/webhooks/cybersource" \
  "$KEY_ID" "$KEY" "$SECONDS_TO_RUN" "$CONNECTIONS"
if [ -n "${PROFILE:-}" ]; then kill -INT $PERF; wait $PERF || true; fi
ps -o rss=,time= -p "$PAYBRIDGE" | awk '{print "paybridge RSS " $1/1024 " MB, CPU time " $2}'
