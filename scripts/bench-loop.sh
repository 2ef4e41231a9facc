#!/usr/bin/env bash
# Benchmark (reported, never asserted) of the control loop's kube plumbing on the API double:
# memory of the loop with N Backups in the namespace, requests per idle hour, and the time
# from a drift event to its repair (median over DRIFTS runs). One process, tokio's time
# paused (an hour takes seconds); see crates/cnpg-backup-controller/examples/loop_bench.rs.
#
# Usage: scripts/bench-loop.sh
# Environment (all optional): N=10000 DRIFTS=21 IDLE_HOURS=1 PROFILE=release (or dev)
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE="${PROFILE:-release}"
cargo build --profile "$PROFILE" -p cnpg-backup-controller --example loop_bench
dir=release
[ "$PROFILE" = dev ] && dir=debug
N="${N:-10000}" DRIFTS="${DRIFTS:-21}" IDLE_HOURS="${IDLE_HOURS:-1}" \
    "target/$dir/examples/loop_bench"
