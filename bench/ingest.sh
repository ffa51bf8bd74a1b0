#!/usr/bin/env bash
# Webhook ingest: signed Cybersource notifications, each about a new payment, against
# `paybridge serve` (release build, SQLite store) — durable accepts per second and latency.
# Usage: bench/ingest.sh [seconds] [connections]   (builds in release mode)
# PAYBRIDGE_BIN=path serves with another build (to compare two builds within one session).
# At the end: the runs still queued (read with the sqlite3 shell) and paybridge's RSS. The load
# outruns the workers, so this is also the backlog benchmark; DRAIN=1 then waits for the workers
# to empty the queue, sampling the queue and RSS every second.
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
queued() {
  sqlite3 -readonly "$WORK/paybridge.db" \
    "SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')"
}
rss_mb() { ps -o rss= -p "$PAYBRIDGE" | awk '{print int($1 / 1024)}'; }
QUEUED=$(queued)
ps -o rss=,time= -p "$PAYBRIDGE" | awk -v q="$QUEUED" \
  '{print "paybridge RSS " $1/1024 " MB, CPU time " $2 "; runs queued " q}'
if [ -n "${DRAIN:-}" ]; then
  START=$(date +%s) MAX_RSS=$(rss_mb) LEFT=$QUEUED
  while [ "$LEFT" -gt 0 ]; do
    sleep 1
    LEFT=$(queued) RSS=$(rss_mb)
    [ "$RSS" -gt "$MAX_RSS" ] && MAX_RSS=$RSS
    echo "$(( $(date +%s) - START )) s: $LEFT queued, RSS $RSS MB"
  done
  TOOK=$(( $(date +%s) - START ))
  echo "drained $QUEUED runs in $TOOK s ($(( QUEUED / (TOOK > 0 ? TOOK : 1) )) runs/s); RSS at most $MAX_RSS MB"
fi
