#!/usr/bin/env bash
# Figures of `cnpg-backup serve --embedded` with its control loop, reported and never asserted:
# resident memory idle and after a restore, how long a restore takes to reach
# ready_for_promotion_checks with nobody asking (wall time, at one simulated minute per
# --sim-tick), a /metrics scrape, and the time from SIGTERM to exit.
#
#   cargo build -p cnpg-backup-cli            # or --release, then BIN=target/release/cnpg-backup
#   bash scripts/measure-serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BIN:-target/debug/cnpg-backup}"
port="${PORT:-18480}"
tick="${SIM_TICK:-0.05}"
dir="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
token=measure-serve-token-5c1f0e
echo "$token" >"$dir/token"
"$bin" serve --embedded "$dir/e" --listen "127.0.0.1:$port" --token-file "$dir/token" \
  --sim-tick "$tick" 2>"$dir/log" &
pid=$!
api="http://127.0.0.1:$port/api/v1"
auth="Authorization: Bearer $token"
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$pid/status"; }
sleep 5
echo "binary:                      $bin (sim tick ${tick}s)"
echo "RSS idle after 5 s:          $(rss)"
curl -sf -X POST -H "$auth" "$api/backups" >/dev/null
backup() { curl -sf -H "$auth" "$api/catalog" | jq -r --arg p "$1" \
  '[.[] | select(.plane == $p and .phase == "completed")][0].name // empty'; }
until [ -n "$(backup admin)" ] && [ -n "$(backup tenant)" ]; do sleep 0.1; done
body=$(jq -n --arg a "$(backup admin)" --arg t "$(backup tenant)" \
  --arg ack "I understand this only creates temporary CloudNativePG recovery cluster(s) for validation and does not yet replace the live environment." \
  '{id: "r-measure", request: {mode: {kind: "full", baseName: "measure"},
    sources: {admin: {kind: "backup", backup: $a}, tenant: {kind: "backup", backup: $t}}},
    acknowledgement: $ack}')
start=$(date +%s.%N)
curl -sf -X POST -H "$auth" -H 'Content-Type: application/json' --data "$body" "$api/restores" >/dev/null
until [ "$(curl -sf -H "$auth" "$api/restores/r-measure" | jq -r .phase)" = ready_for_promotion_checks ]; do
  sleep 0.05
done
end=$(date +%s.%N)
echo "restore to promotion checks: $(echo "$end - $start" | bc) s wall, only GETs"
echo "RSS after the restore:       $(rss)"
curl -s -o "$dir/metrics" -w "/metrics scrape:             %{time_total} s, %{size_download} bytes\n" \
  "http://127.0.0.1:$port/metrics"
echo "loop reconciles so far:      $(grep '^cnpg_backup_reconciles_total{result="ok"}' "$dir/metrics" | awk '{print $2}')"
start=$(date +%s.%N)
kill -TERM "$pid"
wait "$pid" && code=0 || code=$?
end=$(date +%s.%N)
echo "SIGTERM to exit:             $(echo "$end - $start" | bc) s, exit $code"
