#!/usr/bin/env bash
# Page weight and first paint of the Backup & Restore page, in headless Chromium on this machine:
# for each tab, LOADS (default 7) cold loads through `serve --embedded`, printing bytes
# transferred (the page and its assets; the API calls apart) and the median first contentful
# paint. PROFILE=release (default) or PROFILE=dev picks the build of the server. Needs Debian's
# chromium and chromium-driver (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/browser/install-chromium.sh
profile="${PROFILE:-release}"
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
cargo build --profile "$profile" --locked -q -p cnpg-backup-cli --bin cnpg-backup --example page_weight
CNPG_BACKUP_BIN="$PWD/target/$dir/cnpg-backup" "target/$dir/examples/page_weight"
echo "uncompressed sizes of the embedded files (bytes) and gzip -9 for comparison:"
for f in crates/cnpg-backup-http/page/*; do
  printf '  %-12s %6d  gz %6d\n' "$(basename "$f")" "$(wc -c <"$f")" "$(gzip -9c "$f" | wc -c)"
done
