#!/usr/bin/env bash
# The whole seed workflow over HTTP only, with curl, against `cnpg-backup serve --embedded`:
# save automation, check the bucket, run a backup now, the catalogs, plan, stage one with the
# acknowledgement, follow readiness (server-sent events), apply with the second
# acknowledgement, completed. `./scripts/test` runs it, so it cannot rot.
#
#   scripts/http-workflow.sh                  # builds the binary if needed, uses a temp dir
#   CNPG_BACKUP_BIN=path/to/cnpg-backup scripts/http-workflow.sh
#
# Needs curl and jq. Exits non-zero (and says which step) if any step does not answer as the
# README documents.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "http-workflow: needs $tool" >&2; exit 2; }
done
bin="${CNPG_BACKUP_BIN:-target/debug/cnpg-backup}"
if [[ -z "${CNPG_BACKUP_BIN:-}" ]]; then
  cargo build --locked -q -p cnpg-backup-cli
fi
work="$(mktemp -d)"
log="$work/serve.log"
cleanup() {
  if [[ -n "${pid:-}" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Start the server on a free port with a fast simulated clock; read its address and token.
"$bin" serve --embedded "$work/embedded" --listen 127.0.0.1:0 --sim-tick 0.2 2>"$log" &
pid=$!
for _ in $(seq 100); do grep -q 'token' "$log" 2>/dev/null && break; sleep 0.1; done
addr="$(grep -o 'listening on http://[0-9.:]*' "$log" | sed 's/listening on //')"
token="$(sed -n 's/.*<token>`): //p' "$log")"
[[ -n "$addr" && -n "$token" ]] || { echo "http-workflow: serve did not start" >&2; cat "$log" >&2; exit 1; }
api="$addr/api/v1"
step() { echo "== $*" >&2; }
# call METHOD PATH [JSON]: prints the body; fails unless the status is 2xx.
call() {
  local method="$1" path="$2" body="${3:-}" out status
  out="$work/out.json"
  if [[ -n "$body" ]]; then
    status="$(curl -sS -o "$out" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' --data "$body" "$api/$path")"
  else
    status="$(curl -sS -o "$out" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token" "$api/$path")"
  fi
  if [[ "$status" != 2* ]]; then
    echo "http-workflow: $method $path answered $status:" >&2; cat "$out" >&2; echo >&2; exit 1
  fi
  cat "$out"
}
# expect STATUS METHOD PATH JSON: a refusal, with its status.
expect() {
  local want="$1" method="$2" path="$3" body="$4" status
  status="$(curl -sS -o "$work/refused.json" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' --data "$body" "$api/$path")"
  [[ "$status" == "$want" ]] || { echo "http-workflow: $method $path: $status, expected $want" >&2; cat "$work/refused.json" >&2; exit 1; }
}

step "save automation: daily at 02:30 UTC, 14 days"
settings="$(call GET settings | jq -c '.settings
  | .automation.schedule = {"preset": "daily", "hour": 2, "minute": 30}
  | .automation.retention = "14d"')"
call PUT settings "$settings" | jq -e '.cron == "0 30 2 * * *"' >/dev/null
call POST reconcile | jq -e '.state == "ok"' >/dev/null

step "check bucket"
call POST preflight | jq -e '.state == "ok"' >/dev/null
call GET status | jq -e '.reconcile.state == "ok" and .preflight.state == "ok"' >/dev/null

step "run backup now"
set_id="$(call POST backups | jq -r '.[0].backupSetId')"

step "catalogs (until the backups of set $set_id have completed)"
for _ in $(seq 100); do
  catalog="$(call GET 'catalog?plane=both')"
  ready="$(jq --arg s "$set_id" '[.[] | select(.backupSetId == $s and .namedRestoreReady)] | length' <<<"$catalog")"
  [[ "$ready" == 2 ]] && break
  sleep 0.2
done
[[ "$ready" == 2 ]] || { echo "http-workflow: the backups did not complete" >&2; exit 1; }
admin="$(jq -r --arg s "$set_id" '.[] | select(.backupSetId == $s and .plane == "admin") | .name' <<<"$catalog")"
tenant="$(jq -r --arg s "$set_id" '.[] | select(.backupSetId == $s and .plane == "tenant") | .name' <<<"$catalog")"
call GET 'catalog?plane=admin' | jq -e 'all(.plane == "admin")' >/dev/null
call GET 'catalog?source=bucket' | jq -e 'length >= 2' >/dev/null
call GET versions | jq -e '.running == "1.4.2"' >/dev/null

step "plan a full restore from $admin + $tenant"
request="$(jq -nc --arg a "$admin" --arg t "$tenant" \
  '{mode: {kind: "full", baseName: "drill"}, sources: {admin: {kind: "backup", backup: $a}, tenant: {kind: "backup", backup: $t}}}')"
call POST restores/plan "{\"id\": \"r-drill\", \"request\": $request}" | jq -e '.deletesLive == ["cnpg-admin", "cnpg-tenant"]' >/dev/null

step "stage one: refused without the exact acknowledgement, then created"
expect 422 POST restores "{\"id\": \"r-drill\", \"request\": $request, \"acknowledgement\": \"yes\"}"
one='I understand this only creates temporary CloudNativePG recovery cluster(s) for validation and does not yet replace the live environment.'
call POST restores "$(jq -nc --argjson r "$request" --arg a "$one" '{id: "r-drill", request: $r, acknowledgement: $a}')" \
  | jq -e '.phase == "provisioning" or .phase == "recovery_requested"' >/dev/null

step "follow readiness (server-sent events until ready_for_promotion_checks)"
curl -sS -N --max-time 60 -H "Authorization: Bearer $token" "$api/restores/r-drill/events" >"$work/events.txt"
last="$(grep '^data:' "$work/events.txt" | tail -1 | sed 's/^data: *//' | jq -r .phase)"
[[ "$last" == ready_for_promotion_checks ]] || { echo "http-workflow: events ended at $last" >&2; cat "$work/events.txt" >&2; exit 1; }

step "stage two: refused without the exact acknowledgement, then applied"
expect 422 POST restores/r-drill/apply '{"acknowledgement": "apply"}'
two='I understand Apply restore replaces the live environment and may interrupt Control Panel and tenant access until the restored databases are healthy again.'
call POST restores/r-drill/apply "$(jq -nc --arg a "$two" '{acknowledgement: $a}')" >/dev/null

step "completed"
for _ in $(seq 150); do
  phase="$(call GET restores/r-drill | jq -r .phase)"
  [[ "$phase" == completed ]] && break
  sleep 0.2
done
[[ "$phase" == completed ]] || { echo "http-workflow: the restore is $phase, not completed" >&2; exit 1; }
call GET restores/r-drill | jq -e '[.audit[].kind] | index("stage_two_ack") != null' >/dev/null

kill -TERM "$pid"; wait "$pid"; pid=
echo "http-workflow: the seed workflow completed over HTTP" >&2
