# Sourced by bench/o2c.sh and bench/quota.sh: writes the configuration of `paybridge sandbox`
# (Cybersource + Zoho) and of `paybridge serve` (SQLite in $WORK) for order to cash, starts
# both (pids in $SANDBOX and $PAYBRIDGE) and waits until paybridge is ready.
# Set before sourcing: WORK, PORTS (the first of three: Cybersource, Zoho, paybridge = +1, +2,
# +10), BENCH_WORKERS, ZOHO_LIMITS (lines under the sandbox's [zoho.limits]) and ZOHO_QUOTAS
# (lines under paybridge's [zoho.quotas]). PAYBRIDGE_BIN= and SANDBOX_BIN= run other builds.
# bench_metrics FILE then keeps paybridge's /metrics (a viewer token made for the purpose).
CYBERSOURCE_PORT=$((PORTS + 1))
ZOHO_PORT=$((PORTS + 2))
PAYBRIDGE_PORT=$((PORTS + 10))
PAYBRIDGE_URL="http://127.0.0.1:$PAYBRIDGE_PORT/"
STOREFRONT_KEY=storefront-key-0123456789abcdef
export BENCH_SECRET=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= BENCH_ZOHO_SECRET=bench-secret \
  BENCH_ZOHO_REFRESH=1000.bench.refresh BENCH_STOREFRONT=$STOREFRONT_KEY
cat > "$WORK/sandbox.toml" <<TOML
cybersource_listen = "127.0.0.1:$CYBERSOURCE_PORT"
zoho_listen = "127.0.0.1:$ZOHO_PORT"
[cybersource]
[[cybersource.keys]]
merchant_id = "bench"
key_id = "bench-key"
shared_secret = "$BENCH_SECRET"
[zoho.limits]
$ZOHO_LIMITS
[[zoho.clients]]
client_id = "1000.BENCH"
client_secret = "$BENCH_ZOHO_SECRET"
refresh_tokens = ["$BENCH_ZOHO_REFRESH"]
[[zoho.organizations]]
organization_id = "10234695"
name = "Bench"
currency_code = "USD"
TOML
"${SANDBOX_BIN:-./target/release/paybridge}" sandbox --config "$WORK/sandbox.toml" >"$WORK/sandbox.log" 2>&1 &
SANDBOX=$!
cat > "$WORK/paybridge.toml" <<TOML
[server]
listen = "127.0.0.1:$PAYBRIDGE_PORT"
[store]
path = "$WORK/paybridge.db"
[engine]
workers = $BENCH_WORKERS
test_mode = true
[cybersource]
environment = "http://127.0.0.1:$CYBERSOURCE_PORT/"
merchant_id = "bench"
key_id = "bench-key"
shared_secret_env = "BENCH_SECRET"
[zoho]
accounts_url = "http://127.0.0.1:$ZOHO_PORT/"
api_domain = "http://127.0.0.1:$ZOHO_PORT/"
client_id = "1000.BENCH"
client_secret_env = "BENCH_ZOHO_SECRET"
refresh_token_env = "BENCH_ZOHO_REFRESH"
organization_id = "10234695"
base_currency = "USD"
[zoho.quotas]
$ZOHO_QUOTAS
[storefront]
api_keys_env = "BENCH_STOREFRONT"
TOML
RUST_LOG=${RUST_LOG:-warn} "${PAYBRIDGE_BIN:-./target/release/paybridge}" serve \
  --config "$WORK/paybridge.toml" >"$WORK/serve.log" 2>&1 &
PAYBRIDGE=$!
for _ in $(seq 1 100); do
  curl -sf "${PAYBRIDGE_URL}readyz" >/dev/null && break
  sleep 0.1
done

bench_metrics() {
  local token
  token=$(./target/release/paybridge tokens create --config "$WORK/paybridge.toml" --name bench \
    --role viewer 2>"$WORK/token.log" | grep -o 'pb_[A-Za-z0-9_-]*' | head -1)
  curl -sf -H "Authorization: Bearer $token" "${PAYBRIDGE_URL}metrics" >"$1" \
    || { echo "metrics: not read"; cat "$WORK/token.log"; }
}
