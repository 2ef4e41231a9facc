#!/usr/bin/env bash
# The page in Firefox, by hand (not part of ./scripts/test): installs Debian's firefox-esr with
# apt-get and geckodriver from crates.io (`cargo install`, into target/geckodriver; Debian has no
# geckodriver package), starts `serve --embedded`, and runs the seed workflow through WebDriver
# (scripts/browser/firefox-smoke.py: save, check bucket, backup now, full restore, apply,
# completed), failing on a page error or CSP violation it sees. Screenshots: /tmp/ff-*.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v firefox-esr >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends firefox-esr >/dev/null
[ -x target/geckodriver/bin/geckodriver ] || cargo install -q --root target/geckodriver geckodriver
cargo build -q --locked -p cnpg-backup-cli
work="$(mktemp -d)"
target/debug/cnpg-backup serve --embedded "$work/e" --listen 127.0.0.1:0 --sim-tick 0.1 2>"$work/serve.log" &
serve=$!
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/geckodriver/bin/geckodriver --port "$port" >"$work/geckodriver.log" 2>&1 &
driver=$!
trap 'kill "$serve" "$driver" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q 'signed in' "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
link="$(sed -n 's/.*page (signed in): //p' "$work/serve.log")"
sleep 1
python3 scripts/browser/firefox-smoke.py "http://127.0.0.1:$port" "$link"
