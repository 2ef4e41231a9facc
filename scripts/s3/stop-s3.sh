#!/usr/bin/env bash
# Stop the servers start-s3.sh started: only the PIDs recorded in its state dir, and only if
# that PID still runs moto (a recycled PID is left alone). TERM, up to 10 s grace, then
# KILL. Logs, certs and the env file stay.
# Environment: S3_STATE_DIR (same default as start-s3.sh).
set -uo pipefail

tmp_root="${TMPDIR:-$(dirname "$(mktemp -u)")}"
STATE="${S3_STATE_DIR:-$tmp_root/cnpg-backup-s3}"
rc=0
for name in moto-http moto-https moto-auth; do
  f="$STATE/$name.pid"
  [ -f "$f" ] || continue
  pid="$(cat "$f")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    if ps -o args= -p "$pid" | grep -Eq 'moto.server|moto-auth-server.py'; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        echo "stop-s3: $name (pid $pid) ignored TERM; sending KILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
      echo "stop-s3: stopped $name (pid $pid)" >&2
    else
      echo "stop-s3: pid $pid is no longer $name; not touching it" >&2
      rc=1
    fi
  fi
  rm -f "$f"
done
exit $rc
