#!/usr/bin/env bash
# Benchmark (not a test): our bucket catalog against `barman-cloud-backup-list --format json`
# on the same bucket, in the same run, alternating A B C ... A B C. Loads N backups of one
# server into a local S3 server, checks that every command lists the same N backups (id,
# status, name, times; WAL range and timeline where the output has them), prints min /
# median / max wall times, the ratios of medians and the request counts.
#
# Rows (each timed RUNS times, after one warm-up and one run that counts its requests):
#   barman       barman-cloud-backup-list --format json
#   baseline     BASELINE_BIN list ... (optional: the bucket_catalog example of an older
#                commit, e.g. "today's" cold read before the catalog cache)
#   no-cache     bucket_catalog list, no cache: every backup.info read
#   cold-cache   bucket_catalog list with CACHE_DIR emptied before each run (the first run on a
#                machine: also looks for the index object and writes the cache file)
#   warm         bucket_catalog list with CACHE_DIR kept, nothing changed in the bucket
#   cli-*        the same through the CLI, when CLI_BIN is set: `catalog --source bucket
#                --no-cache`, cold cache (XDG_CACHE_HOME emptied) and warm (kept);
#                BASELINE_CLI_BIN adds the old CLI
# Then 10 backups are added and `warm+10` is timed RUNS times, each from the cache of the N
# backups (restored before each run): it must read exactly 10 backup.info.
#
# Usage: scripts/bench-bucket-catalog.sh
# Environment (all optional):
#   N=1000  RUNS=5          backups to load; timed runs per command (after one warm-up)
#   SERVER_KIND=moto        moto (scripts/s3/start-s3.sh) or s3s-fs (S3S_FS_BIN, default `s3s-fs`
#                           on PATH: `cargo install s3s-fs --version 0.14.1 --features binary --locked`)
#   BENCH_PORT=9300         port of the S3 server on 127.0.0.1
#   BENCH_STATE_DIR         default target/bench-s3 (server state, barman venv, outputs, caches)
#   BARMAN_BIN_DIR          dir holding barman-cloud-backup-list; default: a venv made in the
#                           state dir (`pip install 'barman[cloud]' boto3`)
#   BUCKET_CATALOG_BIN      our binary; default: built with
#                           `cargo build --release -p cnpg-backup-kube --example bucket_catalog`
#   BASELINE_BIN            an older bucket_catalog binary to compare with (row skipped if unset)
#   CLI_BIN, BASELINE_CLI_BIN   cnpg-backup binaries for the cli-* rows (skipped if unset)
#   CONCURRENCY=32          backup.info GETs in flight in our catalog read
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000}" RUNS="${RUNS:-5}" KIND="${SERVER_KIND:-moto}" PORT="${BENCH_PORT:-9300}"
STATE="${BENCH_STATE_DIR:-$PWD/target/bench-s3}"
BUCKET=cnpg-bench PREFIX=bench SERVER=cnpg-admin NEW=10
ENDPOINT="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testsecret}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
mkdir -p "$STATE"

# 1. the peer: barman-cloud-backup-list
if [ -z "${BARMAN_BIN_DIR:-}" ]; then
  BARMAN_BIN_DIR="$STATE/barman-venv/bin"
  if [ ! -x "$BARMAN_BIN_DIR/barman-cloud-backup-list" ]; then
    echo "bench: installing barman[cloud] into $STATE/barman-venv" >&2
    python3 -m venv "$STATE/barman-venv"
    "$STATE/barman-venv/bin/pip" install -q --disable-pip-version-check 'barman[cloud]' boto3
  fi
fi

# 2. our binary
if [ -z "${BUCKET_CATALOG_BIN:-}" ]; then
  cargo build --release --locked -p cnpg-backup-kube --example bucket_catalog >&2
  BUCKET_CATALOG_BIN="${CARGO_TARGET_DIR:-target}/release/examples/bucket_catalog"
fi

# 3. the S3 server
LOG=""
case "$KIND" in
  moto)
    export S3_STATE_DIR="$STATE/moto"
    S3_PORT="$PORT" S3_TLS_PORT=0 S3_AUTH_PORT=0 S3_BUCKETS="$BUCKET" bash scripts/s3/start-s3.sh
    trap 'bash scripts/s3/stop-s3.sh' EXIT
    LOG="$S3_STATE_DIR/moto-http.log"
    ;;
  s3s-fs)
    rm -rf "$STATE/s3s-root"; mkdir -p "$STATE/s3s-root/$BUCKET"
    "${S3S_FS_BIN:-s3s-fs}" --host 127.0.0.1 --port "$PORT" --access-key "$AWS_ACCESS_KEY_ID" \
      --secret-key "$AWS_SECRET_ACCESS_KEY" "$STATE/s3s-root" >"$STATE/s3s-fs.log" 2>&1 &
    s3s_pid=$!
    trap 'kill "$s3s_pid" 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do curl -s -o /dev/null "$ENDPOINT/" && break; sleep 0.1; done
    ;;
  *) echo "bench: SERVER_KIND must be moto or s3s-fs" >&2; exit 2 ;;
esac

# 4. N backups (backup.info + a 20-byte data.tar.gz each)
"$BUCKET_CATALOG_BIN" load "$ENDPOINT" "$BUCKET" "$PREFIX" "$SERVER" "$N"

# 5. the commands
CACHE="$STATE/cache" CLI_CACHE="$STATE/cli-cache"
rm -rf "$CACHE" "$CLI_CACHE" "$STATE/cache-at-n" "$STATE/outputs"; mkdir -p "$STATE/outputs"
cat >"$STATE/settings.yaml" <<EOF
target:
  provider: s3_compatible
  endpoint: $ENDPOINT
  bucket: $BUCKET
  prefix: $PREFIX
  credentials:
    kind: s3_access_key
    access_key_id: { name: env, key: AWS_ACCESS_KEY_ID }
    secret_access_key: { name: env, key: AWS_SECRET_ACCESS_KEY }
automation:
  enabled: true
  schedule: { preset: daily, hour: 2, minute: 30 }
  retention: 30d
clusters: { admin: $SERVER, tenant: cnpg-tenant }
appVersion: { kind: unknown }
EOF
list=("$ENDPOINT" "$BUCKET" "$PREFIX" "$SERVER")
cli=(-c "$STATE/settings.yaml" catalog --source bucket --plane admin -o json)
cmd_barman() { "$BARMAN_BIN_DIR/barman-cloud-backup-list" --cloud-provider aws-s3 \
  --endpoint-url "$ENDPOINT" --format json "s3://$BUCKET/$PREFIX" "$SERVER"; }
cmd_baseline() { "$BASELINE_BIN" list "${list[@]}"; }
cmd_no-cache() { "$BUCKET_CATALOG_BIN" list "${list[@]}"; }
cmd_cold-cache() { rm -rf "$CACHE"; CACHE_DIR="$CACHE" "$BUCKET_CATALOG_BIN" list "${list[@]}"; }
cmd_warm() { CACHE_DIR="$CACHE" "$BUCKET_CATALOG_BIN" list "${list[@]}"; }
cmd_warm+10() { rm -rf "$CACHE"; cp -r "$STATE/cache-at-n" "$CACHE"
  CACHE_DIR="$CACHE" "$BUCKET_CATALOG_BIN" list "${list[@]}"; }
cmd_cli-baseline() { "$BASELINE_CLI_BIN" "${cli[@]}"; }
cmd_cli-no-cache() { XDG_CACHE_HOME="$CLI_CACHE" "$CLI_BIN" "${cli[@]}" --no-cache; }
cmd_cli-cold-cache() { rm -rf "$CLI_CACHE"; XDG_CACHE_HOME="$CLI_CACHE" "$CLI_BIN" "${cli[@]}"; }
cmd_cli-warm() { XDG_CACHE_HOME="$CLI_CACHE" "$CLI_BIN" "${cli[@]}"; }
rows=(barman)
[ -n "${BASELINE_BIN:-}" ] && rows+=(baseline)
rows+=(no-cache cold-cache warm)
[ -n "${BASELINE_CLI_BIN:-}" ] && rows+=(cli-baseline)
[ -n "${CLI_BIN:-}" ] && rows+=(cli-no-cache cli-cold-cache cli-warm)

log_lines() { if [ -n "$LOG" ]; then wc -l <"$LOG"; else echo 0; fi; }
requests_in_log() {  # from_line -> "total (LIST/GET)"
  [ -n "$LOG" ] || { echo "n/a"; return; }
  sleep 0.3
  tail -n "+$(( $1 + 1 ))" "$LOG" | python3 -c '
import re, sys
lst = get = nm = other = 0
for m in re.finditer(r"\"(GET|HEAD|PUT|POST|DELETE) (\S+) HTTP/[0-9.]+\" (\d+)", sys.stdin.read()):
    verb, path, status = m.groups()
    if verb == "GET" and "list-type=" in path: lst += 1
    elif verb == "GET":
        get += 1
        nm += status == "304"
    else: other += 1
print(f"{lst + get + other} ({lst} LIST / {get} GET, {nm} of them 304 / {other} other)")'
}
# Every output holds `want` backups and the same catalog as `ref`'s (as far as it shows it).
check() {  # name want ref
  python3 - "$STATE/outputs/$3.json" "$STATE/outputs/$1.json" "$2" <<'PYEOF'
import json, sys
from datetime import datetime
phase = {"DONE": "completed", "FAILED": "failed", "EMPTY": "pending"}
def t(v): return v and datetime.fromisoformat(v.replace("Z", "+00:00"))
def rows(path, short):
    d = json.load(open(path))
    if isinstance(d, dict):
        return {(b["backup_id"], phase.get(b["status"], "running"), b.get("backup_name"),
                 t(b.get("begin_time_iso")), t(b.get("end_time_iso")))
                + (() if short else (b["begin_wal"], b["end_wal"], b["timeline"]))
                for b in d["backups_list"]}
    return {(r["backupId"], r["phase"], r["name"], t(r["startedAt"]), t(r["endedAt"])) for r in d}
ours = json.load(open(sys.argv[2]))
short = isinstance(ours, list)
got = rows(sys.argv[2], short)
if len(got) != int(sys.argv[3]):
    sys.exit(f"bench: {sys.argv[2]} lists {len(got)} backups, expected {sys.argv[3]}")
theirs = rows(sys.argv[1], short)
if theirs != got:
    sys.exit(f"bench: catalogs differ: {len(theirs - got)} only in {sys.argv[1]}, {len(got - theirs)} only in {sys.argv[2]}")
PYEOF
}
run() {  # name want [ref=barman] -> wall seconds
  local name="$1" want="$2" ref="${3:-barman}" s e
  s=$(date +%s.%N)
  if ! "cmd_$name" >"$STATE/outputs/$name.json" 2>"$STATE/outputs/$name.err"; then
    echo "bench: $name failed:" >&2; tail -5 "$STATE/outputs/$name.err" >&2; exit 1
  fi
  e=$(date +%s.%N)
  check "$name" "$want" "$ref" || { cat "$STATE/outputs/$name.err" >&2; exit 1; }
  echo "$e - $s" | bc
}
counted() { sed -n 's/^bucket_catalog: .*requests: //p' "$STATE/outputs/$1.err"; }

# 6. warm-up, a second run that counts requests (warm rows are warm by then), then RUNS timed
#    rounds, alternating
declare -A times reqs client
for r in "${rows[@]}"; do run "$r" "$N" >/dev/null; done
for r in "${rows[@]}"; do
  from=$(log_lines); run "$r" "$N" >/dev/null; reqs[$r]=$(requests_in_log "$from"); client[$r]=$(counted "$r")
done
for _ in $(seq 1 "$RUNS"); do
  for r in "${rows[@]}"; do times[$r]+="$(run "$r" "$N") "; done
done

# 7. 10 new backups since the cache was written (checked against a read without cache)
cp -r "$CACHE" "$STATE/cache-at-n"
"$BUCKET_CATALOG_BIN" add "$ENDPOINT" "$BUCKET" "$PREFIX" "$SERVER" "$N" "$NEW"
cmd_reference() { "$BUCKET_CATALOG_BIN" list "${list[@]}"; }
run reference "$((N + NEW))" reference >/dev/null
from=$(log_lines); run warm+10 "$((N + NEW))" reference >/dev/null
reqs[warm+10]=$(requests_in_log "$from"); client[warm+10]=$(counted warm+10)
for _ in $(seq 1 "$RUNS"); do times[warm+10]+="$(run warm+10 "$((N + NEW))" reference) "; done
rows+=(warm+10)

stats() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "%.3f | %.3f | %.3f", v[1], (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2), v[NR]}'; }
median() { stats "$@" | awk -F' [|] ' '{print $2}'; }
echo "| server | N | command | min s | median s | max s | requests (server log) | counted by the client |"
echo "|---|---:|---|---:|---:|---:|---|---|"
for r in "${rows[@]}"; do
  # shellcheck disable=SC2086
  echo "| $KIND | $N | $r | $(stats ${times[$r]}) | ${reqs[$r]} | ${client[$r]:-} |"
done
# shellcheck disable=SC2086
for r in "${rows[@]}"; do
  [ "$r" = barman ] && continue
  echo "ratio of medians, barman / $r: $(echo "scale=2; $(median ${times[barman]}) / $(median ${times[$r]})" | bc)x"
done
# shellcheck disable=SC2086
for base in baseline no-cache cold-cache cli-baseline cli-no-cache cli-cold-cache; do
  [ -n "${times[$base]:-}" ] || continue
  warm=warm; [[ "$base" == cli-* ]] && warm=cli-warm
  [ -n "${times[$warm]:-}" ] || continue
  echo "ratio of medians, $base / $warm: $(echo "scale=2; $(median ${times[$base]}) / $(median ${times[$warm]})" | bc)x"
done
