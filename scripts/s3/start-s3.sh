#!/usr/bin/env bash
# Start the S3-compatible test servers (moto_server) on 127.0.0.1 for the integration tests:
#   - plain HTTP on $S3_PORT (default 9000);
#   - HTTPS on $S3_TLS_PORT (default 9443) with a throw-away test CA (make-test-ca.sh), plus a
#     second, unrelated CA ("wrong CA") for the certificate-error test;
#   - HTTP with signature and IAM checks on $S3_AUTH_PORT (default 9010): two IAM users, a
#     writer (s3:*) and a reader (get and list only), for wrong-credentials and write-denied tests.
# Waits (bounded) until each answers, creates the buckets, records PIDs, writes an env file.
# Stop it with stop-s3.sh (kills the recorded PIDs only). Adapted from the project's research
# set-up; moto_server starts in about 2 s.
#
# Environment (all optional):
#   S3_STATE_DIR       pid files, logs, certs, env file (default: $TMPDIR or /tmp, + /cnpg-backup-s3)
#   S3_PORT, S3_TLS_PORT, S3_AUTH_PORT   ports (S3_TLS_PORT=0 / S3_AUTH_PORT=0: do not start it)
#   S3_BUCKETS         buckets to create on each server (default "cnpg-backup-test")
#   S3_READY_TIMEOUT   seconds to wait for readiness (default 60)
#   S3_PYTHON          python with moto installed (default python3; if it lacks moto, a venv is
#                      made in the state dir and moto pip-installed)
#   MOTO_VERSION       version pip installs when needed (default 5.2.1)
#
# After it returns 0:  . "$S3_STATE_DIR/env"   exports S3_TEST_ENDPOINT, S3_TEST_TLS_ENDPOINT,
# S3_TEST_CA_PEM, S3_TEST_WRONG_CA_PEM, S3_TEST_AUTH_ENDPOINT, S3_TEST_WRITER_KEY_ID,
# S3_TEST_WRITER_SECRET, S3_TEST_READER_KEY_ID, S3_TEST_READER_SECRET, S3_TEST_BUCKET,
# S3_TEST_REGION, S3_TEST_ACCESS_KEY_ID, S3_TEST_SECRET_ACCESS_KEY, S3_TEST_LOG.
# Note: the servers are separate processes with separate in-memory state.
set -Eeuo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp_root="${TMPDIR:-$(dirname "$(mktemp -u)")}"
STATE="${S3_STATE_DIR:-$tmp_root/cnpg-backup-s3}"
PORT="${S3_PORT:-9000}"
TLS_PORT="${S3_TLS_PORT:-9443}"
AUTH_PORT="${S3_AUTH_PORT:-9010}"
BUCKETS="${S3_BUCKETS:-cnpg-backup-test}"
TIMEOUT="${S3_READY_TIMEOUT:-60}"
PY="${S3_PYTHON:-python3}"
MOTO_VERSION="${MOTO_VERSION:-5.2.1}"
HOST=127.0.0.1
NAMES="moto-http moto-https moto-auth"

mkdir -p "$STATE"
t_start=$(date +%s.%N)

for name in $NAMES; do
  if [ -f "$STATE/$name.pid" ] && kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null; then
    echo "start-s3: $name already running (pid $(cat "$STATE/$name.pid")); run stop-s3.sh first" >&2
    exit 1
  fi
  rm -f "$STATE/$name.pid"
done

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
for p in "$PORT" $([ "$TLS_PORT" != 0 ] && echo "$TLS_PORT") $([ "$AUTH_PORT" != 0 ] && echo "$AUTH_PORT"); do
  if port_busy "$p"; then echo "start-s3: port $p on $HOST is already in use" >&2; exit 1; fi
done

# 1. moto with its server extras (and boto3, a moto dependency, for the IAM set-up).
if ! "$PY" -c 'import moto.server, flask, flask_cors, boto3' 2>/dev/null; then
  if ! "$STATE/venv/bin/python" -c 'import moto.server, flask, flask_cors, boto3' 2>/dev/null; then
    echo "start-s3: installing moto[s3]==$MOTO_VERSION into $STATE/venv" >&2
    python3 -m venv "$STATE/venv"
    "$STATE/venv/bin/pip" install -q --disable-pip-version-check \
      "moto[s3]==$MOTO_VERSION" flask flask-cors
  fi
  PY="$STATE/venv/bin/python"
fi

# 2. test CA + server certificate for the HTTPS endpoint, and an unrelated CA.
if [ "$TLS_PORT" != 0 ]; then
  # The certificates are valid 30 days: make new ones when they are older than 20.
  if [ -n "$(find "$STATE/tls/server.pem" "$STATE/wrong-ca/ca.pem" -mtime +20 2>/dev/null)" ]; then
    rm -rf "$STATE/tls" "$STATE/wrong-ca"
  fi
  [ -f "$STATE/tls/server.pem" ] || bash "$here/make-test-ca.sh" "$STATE/tls" >/dev/null
  [ -f "$STATE/wrong-ca/ca.pem" ] ||
    bash "$here/make-test-ca.sh" "$STATE/wrong-ca" "cnpg-backup unrelated test CA" >/dev/null
fi

started=()
cleanup_on_error() {
  for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
  for name in $NAMES; do rm -f "$STATE/$name.pid"; done
}
trap 'cleanup_on_error' ERR

launch() {  # name port [moto args...]   (MOTO_MAIN: what runs moto, default its module)
  local name="$1" port="$2"; shift 2
  if port_busy "$port"; then
    echo "start-s3: port $port on $HOST is already in use" >&2
    return 1
  fi
  local runner=(-m moto.server)
  if [ -n "${MOTO_MAIN:-}" ]; then runner=("$MOTO_MAIN"); fi
  "$PY" "${runner[@]}" -H "$HOST" -p "$port" "$@" >"$STATE/$name.log" 2>&1 &
  local pid=$!
  started+=("$pid")
  echo "$pid" >"$STATE/$name.pid"
}

wait_ready() {  # name url [curl args...]
  local name="$1" url="$2"; shift 2
  local pid deadline
  pid="$(cat "$STATE/$name.pid")"
  deadline=$(( $(date +%s) + TIMEOUT ))
  until curl -s -o /dev/null --max-time 2 "$@" "$url/moto-api/"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "start-s3: $name (pid $pid) exited; log:" >&2; tail -20 "$STATE/$name.log" >&2
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "start-s3: $name not ready after ${TIMEOUT}s; log:" >&2; tail -20 "$STATE/$name.log" >&2
      return 1
    fi
    sleep 0.1
  done
}

make_buckets() {  # url [curl args...]   (moto accepts unsigned bucket creation while auth is off)
  local url="$1"; shift
  for b in $BUCKETS; do
    curl -sf -o /dev/null -X PUT "$@" "$url/$b"
  done
}

launch moto-http "$PORT"
if [ "$TLS_PORT" != 0 ]; then
  launch moto-https "$TLS_PORT" --ssl-cert "$STATE/tls/server.pem" --ssl-key "$STATE/tls/server.key"
fi
if [ "$AUTH_PORT" != 0 ]; then
  MOTO_MAIN="$here/moto-auth-server.py" launch moto-auth "$AUTH_PORT"
fi

wait_ready moto-http "http://$HOST:$PORT"
make_buckets "http://$HOST:$PORT"
if [ "$TLS_PORT" != 0 ]; then
  wait_ready moto-https "https://$HOST:$TLS_PORT" --cacert "$STATE/tls/ca.pem"
  make_buckets "https://$HOST:$TLS_PORT" --cacert "$STATE/tls/ca.pem"
fi
if [ "$AUTH_PORT" != 0 ]; then
  wait_ready moto-auth "http://$HOST:$AUTH_PORT"
  make_buckets "http://$HOST:$AUTH_PORT"
  # Two IAM users, then turn signature and permission checks on.
  "$PY" - "http://$HOST:$AUTH_PORT" >"$STATE/auth-keys" <<'PYEOF'
import json, sys
import boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
policies = {
    "writer": ["s3:*"],
    "reader": ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:HeadBucket"],
}
for user, actions in policies.items():
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName=f"{user}-s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    up = user.upper()
    print(f"export S3_TEST_{up}_KEY_ID={key['AccessKeyId']}")
    print(f"export S3_TEST_{up}_SECRET={key['SecretAccessKey']}")
PYEOF
  curl -sf -o /dev/null -X POST -H "Content-Type: text/plain" --data-binary 0 \
    "http://$HOST:$AUTH_PORT/moto-api/reset-auth"
fi
trap - ERR

{
  echo "export S3_TEST_ENDPOINT=http://$HOST:$PORT"
  echo "export S3_TEST_LOG='$STATE/moto-http.log'"
  if [ "$TLS_PORT" != 0 ]; then
    echo "export S3_TEST_TLS_ENDPOINT=https://$HOST:$TLS_PORT"
    echo "export S3_TEST_CA_PEM='$STATE/tls/ca.pem'"
    echo "export S3_TEST_WRONG_CA_PEM='$STATE/wrong-ca/ca.pem'"
  fi
  if [ "$AUTH_PORT" != 0 ]; then
    echo "export S3_TEST_AUTH_ENDPOINT=http://$HOST:$AUTH_PORT"
    cat "$STATE/auth-keys"
  fi
  echo "export S3_TEST_BUCKET=${BUCKETS%% *}"
  echo "export S3_TEST_REGION=us-east-1"
  echo "export S3_TEST_ACCESS_KEY_ID=test"
  echo "export S3_TEST_SECRET_ACCESS_KEY=testsecret"
} >"$STATE/env"

t_end=$(date +%s.%N)
printf 'start-s3: moto_server ready in %.1fs: http://%s:%s' "$(echo "$t_end - $t_start" | bc)" "$HOST" "$PORT" >&2
[ "$TLS_PORT" != 0 ] && printf ', https://%s:%s' "$HOST" "$TLS_PORT" >&2
[ "$AUTH_PORT" != 0 ] && printf ', http://%s:%s (signatures checked)' "$HOST" "$AUTH_PORT" >&2
printf '; buckets: %s; env: %s\n' "$BUCKETS" "$STATE/env" >&2
