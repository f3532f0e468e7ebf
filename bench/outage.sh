#!/usr/bin/env bash
# How long the service takes to serve again after a PostgreSQL restart: runs the outage test
# (tests/api/outage.rs: a throwaway cluster on a free port, 4 writers and 4 readers) over
# BENCH_ROUNDS restarts (default 8) and prints, per restart, the time from the database
# accepting connections again to the first 200 of GET /api/v1/towns, then the median and worst.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shuangbai/target}"
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export SHUANGBAI_OUTAGE_ROUNDS="${BENCH_ROUNDS:-8}"
out=$(mktemp)
cargo test --quiet --test api outage:: -- --nocapture 2>&1 | tee "$out" | grep -E '^outage round|^test result' || true
grep -q 'test result: ok' "$out" || { echo "the outage test failed: see $out"; exit 1; }
grep -oE 'first 200 [0-9]+ ms' "$out" | awk '{print $3}' | sort -n | awk '
  { v[NR] = $1 } END {
    if (NR == 0) { print "no rounds measured"; exit 1 }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "restarts: %d, first 200 after the database accepts connections: median %d ms, worst %d ms\n", NR, m, v[NR]
  }'
