#!/usr/bin/env bash
# Make sure the browser tests of the page (crates/cnpg-backup-cli/tests/browser) have Debian's
# Chromium and ChromeDriver: /usr/bin/chromium and /usr/bin/chromedriver (or the programs named by
# CNPG_BACKUP_CHROMIUM / CNPG_BACKUP_CHROMEDRIVER). Installs the packages `chromium` and
# `chromium-driver` with apt-get when they are missing (as root, or through sudo without a
# password). Never downloads a browser build of its own. Exits non-zero, saying why, when it
# cannot install them; the tests then fail with the same advice rather than being skipped.
set -euo pipefail
chromium="${CNPG_BACKUP_CHROMIUM:-/usr/bin/chromium}"
driver="${CNPG_BACKUP_CHROMEDRIVER:-/usr/bin/chromedriver}"
if [ -x "$chromium" ] && [ -x "$driver" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-chromium: $chromium or $driver is missing and there is no apt-get; install Chromium and ChromeDriver and set CNPG_BACKUP_CHROMIUM / CNPG_BACKUP_CHROMEDRIVER" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    echo "install-chromium: run as root (or with passwordless sudo) to apt-get install chromium chromium-driver" >&2
    exit 1
  fi
fi
echo "install-chromium: installing Debian's chromium and chromium-driver with apt-get" >&2
t0=$(date +%s)
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  chromium chromium-driver >/dev/null
echo "install-chromium: $("$chromium" --version 2>/dev/null | head -1), $("$driver" --version | head -1) in $(( $(date +%s) - t0 ))s" >&2
