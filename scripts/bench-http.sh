#!/usr/bin/env bash
# Load figures of the HTTP API on loopback (not part of CI; numbers go in the commit or report
# that cites them). Bounded: a fixed number of requests per run, 127.0.0.1 only.
#
#   cargo build --release --locked -p cnpg-backup-cli
#   cargo install --locked oha --root target/tools         # the load generator (crates.io)
#   scripts/bench-http.sh
#
# 1. `GET catalog` with 10 000 backups: the embedded default's journal is written so that its
#    replay takes a backup of each plane every 5 simulated minutes for 25 010 minutes
#    (10 006 backups, Barman files in the local bucket); `serve` is started frozen
#    (--sim-tick 0), then oha sends CATALOG_N requests with CATALOG_C connections.
# 2. `GET status` with 64 concurrent clients: oha, STATUS_N requests, 64 connections.
# 3. 200 event streams held open at once: 200 curl clients follow one restore (in
#    provisioning, time frozen, so no stream ends) for SSE_SECONDS; each must have received
#    the record and still be open when curl's --max-time ends it (exit 28), none may fail.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CNPG_BACKUP_BIN:-target/release/cnpg-backup}"
oha="${OHA:-target/tools/bin/oha}"
CATALOG_N="${CATALOG_N:-300}" CATALOG_C="${CATALOG_C:-4}"
STATUS_N="${STATUS_N:-20000}" SSE_CLIENTS="${SSE_CLIENTS:-200}" SSE_SECONDS="${SSE_SECONDS:-10}"
port="${PORT:-18480}"
work="$(mktemp -d)"
cleanup() {
  if [[ -n "${pid:-}" ]]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
dir="$work/embedded"
token="bench-token-$(date +%s)-0123456789"
printf '%s\n' "$token" >"$work/token"

# The dataset: settings with a five-minute schedule, reconcile, then 25 010 minutes of time.
"$bin" --embedded "$dir" reconcile -o json >/dev/null
jq -c '(.[0].settings.automation.schedule) = {"preset": "custom", "cron": "0 */5 * * * *"}
       | . + [{"op": "reconcile"}, {"op": "advance", "minutes": 25010}]' \
  "$dir/journal.json" >"$work/j" && mv "$work/j" "$dir/journal.json"

start=$(date +%s.%N)
"$bin" serve --embedded "$dir" --listen "127.0.0.1:$port" --token-file "$work/token" --sim-tick 0 \
  2>"$work/serve.log" &
pid=$!
for _ in $(seq 600); do grep -q listening "$work/serve.log" && break; sleep 0.1; done
echo "serve ready after $(echo "$(date +%s.%N) - $start" | bc) s (journal replay included)"
api="http://127.0.0.1:$port/api/v1"
auth="Authorization: Bearer $token"
rows=$(curl -sf -H "$auth" "$api/catalog" | jq length)
echo "catalog rows: $rows"

echo "== GET catalog ($rows backups), $CATALOG_N requests, $CATALOG_C connections"
"$oha" --no-tui -n "$CATALOG_N" -c "$CATALOG_C" -H "$auth" "$api/catalog"
echo "== GET status, $STATUS_N requests, 64 connections"
"$oha" --no-tui -n "$STATUS_N" -c 64 -H "$auth" "$api/status"

echo "== $SSE_CLIENTS event streams for $SSE_SECONDS s"
admin=$(curl -sf -H "$auth" "$api/catalog?plane=admin" | jq -r '.[0].name')
tenant=$(curl -sf -H "$auth" "$api/catalog?plane=tenant" | jq -r '.[0].name')
one='I understand this only creates temporary CloudNativePG recovery cluster(s) for validation and does not yet replace the live environment.'
curl -sf -H "$auth" -H 'Content-Type: application/json' "$api/restores" \
  --data "$(jq -nc --arg a "$admin" --arg t "$tenant" --arg ack "$one" \
    '{id: "r-sse", request: {mode: {kind: "full", baseName: "sse"}, sources: {admin: {kind: "backup", backup: $a}, tenant: {kind: "backup", backup: $t}}}, acknowledgement: $ack}')" \
  >/dev/null
pids=()
for i in $(seq "$SSE_CLIENTS"); do
  ( rc=0
    curl -sS -N --max-time "$SSE_SECONDS" -H "$auth" "$api/restores/r-sse/events" >"$work/sse-$i.txt" 2>"$work/sse-$i.err" || rc=$?
    echo "$rc" >"$work/sse-$i.rc" ) &
  pids+=($!)
done
sleep 2
open=$(ss -Htn state established "( sport = :$port )" | wc -l)
echo "connections established to serve 2 s in: $open"
wait "${pids[@]}"
got=$(grep -l '^event: restore' "$work"/sse-*.txt | wc -l)
held=$(grep -lx 28 "$work"/sse-*.rc | wc -l)
echo "streams that received the record: $got / $SSE_CLIENTS; held open until --max-time (curl exit 28): $held / $SSE_CLIENTS"
[[ "$got" == "$SSE_CLIENTS" && "$held" == "$SSE_CLIENTS" ]]
grep -c ERROR "$work/serve.log" | sed 's/^/serve ERROR lines: /' || true
