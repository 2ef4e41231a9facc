#!/usr/bin/env bash
# Benchmark (not a test): our bucket catalog against `barman-cloud-backup-list --format json`
# on the same bucket, in the same run, alternating A B A B. Loads N backups of one server into
# a local S3 server, checks both list the same N backups (id, status, name, times, WAL range,
# timeline), prints min / median / max wall times, the ratio of
# medians and the request counts.
#
# Usage: scripts/bench-bucket-catalog.sh
# Environment (all optional):
#   N=1000  RUNS=5          backups to load; timed runs per command (after one warm-up)
#   SERVER_KIND=moto        moto (scripts/s3/start-s3.sh) or s3s-fs (S3S_FS_BIN, default `s3s-fs`
#                           on PATH: `cargo install s3s-fs --version 0.14.1 --features binary --locked`)
#   BENCH_PORT=9300         port of the S3 server on 127.0.0.1
#   BENCH_STATE_DIR         default target/bench-s3 (server state, barman venv, outputs)
#   BARMAN_BIN_DIR          dir holding barman-cloud-backup-list; default: a venv made in the
#                           state dir (`pip install 'barman[cloud]' boto3`)
#   BUCKET_CATALOG_BIN      our binary; default: built with
#                           `cargo build --release -p cnpg-backup-kube --example bucket_catalog`
#   CONCURRENCY=32          backup.info GETs in flight in our catalog read
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-1000}" RUNS="${RUNS:-5}" KIND="${SERVER_KIND:-moto}" PORT="${BENCH_PORT:-9300}"
STATE="${BENCH_STATE_DIR:-$PWD/target/bench-s3}"
BUCKET=cnpg-bench PREFIX=bench SERVER=cnpg-admin
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

barman=("$BARMAN_BIN_DIR/barman-cloud-backup-list" --cloud-provider aws-s3 --endpoint-url "$ENDPOINT"
        --format json "s3://$BUCKET/$PREFIX" "$SERVER")
ours=("$BUCKET_CATALOG_BIN" list "$ENDPOINT" "$BUCKET" "$PREFIX" "$SERVER")

count_items() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["backups_list"]))' "$1"; }
log_lines() { if [ -n "$LOG" ]; then wc -l <"$LOG"; else echo 0; fi; }
requests_in_log() {  # from_line -> "total (LIST/GET)"
  [ -n "$LOG" ] || { echo "n/a"; return; }
  sleep 0.3
  tail -n "+$(( $1 + 1 ))" "$LOG" | python3 -c '
import re, sys
lst = get = other = 0
for m in re.finditer(r"\"(GET|HEAD|PUT|POST|DELETE) (\S+) HTTP/", sys.stdin.read()):
    verb, path = m.groups()
    if verb == "GET" and "list-type=" in path: lst += 1
    elif verb == "GET": get += 1
    else: other += 1
print(f"{lst + get + other} ({lst} LIST / {get} GET / {other} other)")'
}
run() {  # name -> wall seconds; checks the output holds N backups
  local name="$1" s e; shift
  s=$(date +%s.%N)
  if ! "$@" >"$STATE/$name.json" 2>"$STATE/$name.err"; then
    echo "bench: $name failed:" >&2; tail -5 "$STATE/$name.err" >&2; exit 1
  fi
  e=$(date +%s.%N)
  local got; got=$(count_items "$STATE/$name.json")
  [ "$got" = "$N" ] || { echo "bench: $name listed $got backups, expected $N" >&2; cat "$STATE/$name.err" >&2; exit 1; }
  echo "$e - $s" | bc
}

# 5. warm-up (and request counts), then RUNS timed runs, alternating
from=$(log_lines); run barman "${barman[@]}" >/dev/null; barman_reqs=$(requests_in_log "$from")
from=$(log_lines); run ours "${ours[@]}" >/dev/null; ours_reqs=$(requests_in_log "$from")
python3 - "$STATE/barman.json" "$STATE/ours.json" <<'PYEOF'
import json, sys
from datetime import datetime
def rows(path):
    out = set()
    for b in json.load(open(path))["backups_list"]:
        t = lambda k: b.get(k) and datetime.fromisoformat(b[k])
        out.add((b["backup_id"], b["status"], b.get("backup_name"), b["begin_wal"], b["end_wal"],
                 b["timeline"], t("begin_time_iso"), t("end_time_iso")))
    return out
theirs, ours = rows(sys.argv[1]), rows(sys.argv[2])
if theirs != ours:
    sys.exit(f"bench: catalogs differ: {len(theirs - ours)} only in barman's, {len(ours - theirs)} only in ours")
PYEOF
ours_counted=$(sed -n 's/^bucket_catalog: .*requests: //p' "$STATE/ours.err")
a=(); b=()
for _ in $(seq 1 "$RUNS"); do
  a+=("$(run barman "${barman[@]}")")
  b+=("$(run ours "${ours[@]}")")
done
stats() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "%.3f | %.3f | %.3f", v[1], (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2), v[NR]}'; }
median() { stats "$@" | awk -F' [|] ' '{print $2}'; }
echo "| server | N | command | min s | median s | max s | requests |"
echo "|---|---:|---|---:|---:|---:|---|"
echo "| $KIND | $N | barman-cloud-backup-list --format json | $(stats "${a[@]}") | $barman_reqs |"
echo "| $KIND | $N | bucket_catalog (CONCURRENCY=${CONCURRENCY:-32}) | $(stats "${b[@]}") | $ours_reqs; counted by the client: $ours_counted |"
echo "ratio of medians (barman / ours): $(echo "scale=2; $(median "${a[@]}") / $(median "${b[@]}")" | bc)x"
