#!/usr/bin/env bash
# Load on the Zoho sandbox with its limits off: a Books read, Books contact creates (each
# checking the display name is unique) and CRM inserts, each for $DURATION with wrk.
# Usage: bench/zoho.sh [duration]   (needs wrk, curl, python3 and a release build)
set -euo pipefail
[ -n "${DEBUG:-}" ] && set -x
DURATION=${1:-10s}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'kill $SANDBOX 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18082
if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then
  echo "port $PORT is in use: stop whatever listens there first" >&2
  exit 1
fi
CLIENT=1000.SANDBOXCLIENT0000000000000000
SECRET=0123456789abcdef0123456789abcdef0123456789
REFRESH=1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef
ORG=10234695
cat > "$WORK/sandbox.toml" <<TOML
cybersource_listen = "127.0.0.1:18081"
zoho_listen = "127.0.0.1:$PORT"
[cybersource]
[[cybersource.keys]]
merchant_id = "bench"
key_id = "11111111-2222-3333-4444-555555555555"
shared_secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
[zoho.limits]
enabled = false
[[zoho.clients]]
client_id = "$CLIENT"
client_secret = "$SECRET"
refresh_tokens = ["$REFRESH"]
[[zoho.organizations]]
organization_id = "$ORG"
name = "Bench"
currency_code = "USD"
TOML
"$ROOT/target/release/paybridge" sandbox --config "$WORK/sandbox.toml" >"$WORK/sandbox.log" 2>&1 &
SANDBOX=$!
BASE=http://127.0.0.1:$PORT
for _ in $(seq 50); do curl -s -o /dev/null "$BASE/__sandbox/stats" && break; sleep 0.1; done
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TOKEN=$(curl -s -X POST "$BASE/oauth/v2/token?grant_type=refresh_token&client_id=$CLIENT&client_secret=$SECRET&refresh_token=$REFRESH" | json "['access_token']")
AUTH="Zoho-oauthtoken $TOKEN"
CID=$(curl -s -X POST "$BASE/books/v3/contacts?organization_id=$ORG" -H "Authorization: $AUTH" \
  -H 'content-type: application/json' -d '{"contact_name":"Seed"}' | json "['contact']['contact_id']")
IID=$(curl -s -X POST "$BASE/books/v3/invoices?organization_id=$ORG" -H "Authorization: $AUTH" \
  -H 'content-type: application/json' \
  -d "{\"customer_id\":\"$CID\",\"line_items\":[{\"name\":\"Tea\",\"rate\":4.5,\"quantity\":2}]}" | json "['invoice']['invoice_id']")
cat > "$WORK/get_invoice.lua" <<LUA
wrk.method = "GET"
wrk.path = "/books/v3/invoices/$IID?organization_id=$ORG"
wrk.headers["Authorization"] = "$AUTH"
LUA
cat > "$WORK/create_contact.lua" <<LUA
local counter = 0
local threads = {}
function setup(thread) thread:set("tid", #threads); table.insert(threads, thread) end
function request()
  counter = counter + 1
  local body = '{"contact_name":"Bench ' .. tid .. '-' .. counter .. '"}'
  return wrk.format("POST", "/books/v3/contacts?organization_id=$ORG",
    {["Authorization"] = "$AUTH", ["Content-Type"] = "application/json"}, body)
end
LUA
cat > "$WORK/crm_insert.lua" <<LUA
local counter = 0
function request()
  counter = counter + 1
  local body = '{"data":[{"Last_Name":"Bench ' .. counter .. '","Email":"b' .. counter .. '@example.com"}]}'
  return wrk.format("POST", "/crm/v8/Contacts",
    {["Authorization"] = "$AUTH", ["Content-Type"] = "application/json"}, body)
end
LUA
for script in get_invoice create_contact crm_insert; do
  echo "== $script"
  wrk -t2 -c64 -d"$DURATION" -s "$WORK/$script.lua" "$BASE/" | grep -E "Requests/sec|requests in|Latency"
done
echo "== sandbox counters"
curl -s "$BASE/__sandbox/stats"; echo
