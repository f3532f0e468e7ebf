#!/usr/bin/env bash
# A list under load: GET /api/v1/stations?county_id=X&limit=50 from 64 and 256 connections (wrk), on
# the national data and on a province-sized set, beside pgbench running the list's own single
# statement and the cheapest SQL that gives the same page, at the same concurrency; and the
# service's resident memory idle after warm-up and at its peak under load.
#
#   BENCH_REUSE=1 bash bench/lists.sh       # reuse data generated before
#   BENCH_BIN=path/to/shuangbai bash ...    # measure another build (say, an older commit's)
#
# BENCH_SECS (default 15) per run; BENCH_POOLS (default "8 16") the pool sizes tried;
# BENCH_SCALES (default "national province"). Nothing here is pass/fail. Needs wrk and pgbench.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PORT=${BENCH_PORT:-18097}
SECS=${BENCH_SECS:-15}
POOLS=${BENCH_POOLS:-8 16}
SCALES=${BENCH_SCALES:-national province}
export SHUANGBAI_JWT_SECRET=bench-secret-bench-secret-bench-secret-0123
export RUST_LOG=warn
# As the Docker image runs it (docker/Dockerfile); BENCH_MALLOC_ARENA_MAX= (empty) for glibc's default.
if [ -n "${BENCH_MALLOC_ARENA_MAX-2}" ]; then export MALLOC_ARENA_MAX=${BENCH_MALLOC_ARENA_MAX-2}; fi

if [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release --quiet
  BENCH_BIN="${CARGO_TARGET_DIR:-target}/release/shuangbai"
fi
BIN=$BENCH_BIN

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
echo "binary: $BIN; MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-unset}"

for scale in $SCALES; do
case $scale in
  national) DB=shuangbai_bench; SIZE=() ;;
  # About a province: 122 counties, 21,586 sites, 8,100 staff.
  province) DB=shuangbai_bench_province; SIZE=(-v provinces=1 -v cities=21 -v counties=122 -v points=20000 -v staff=8100) ;;
  *) echo "unknown scale $scale" >&2; exit 2 ;;
esac
URL="${ADMIN_URL%/*}/$DB"
if [ "${BENCH_REUSE:-0}" != 1 ] || ! psql -qAt "$URL" -c "SELECT 1 FROM sites LIMIT 1" >/dev/null 2>&1; then
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  DATABASE_URL="$URL" "$BIN" migrate
  echo "generating $scale data…"
  psql -q "$URL" "${SIZE[@]}" -f bench/generate.sql
fi
DATABASE_URL="$URL" "$BIN" migrate
DATABASE_URL="$URL" SHUANGBAI_PASSWORD=bench-password-0123 "$BIN" user add bench.lists --role admin >/dev/null 2>&1 || true

# The county with the most sites, so the page is the most expensive one.
COUNTY=$(psql -qAt "$URL" -c "SELECT county_id FROM sites GROUP BY county_id ORDER BY count(*) DESC, county_id LIMIT 1")
SITES=$(psql -qAt "$URL" -c "SELECT count(*) FROM sites WHERE county_id = $COUNTY")
PATH_Q="/api/v1/stations?county_id=$COUNTY&limit=50"

# The statement the service sends for that page as of today (src/db/sites.rs, `list`), as diesel
# writes it: each site's latest check comes from its own row (two NULLs stand in for the lookup an
# earlier date needs).
cat > /tmp/shuangbai-list.sql <<SQL
SELECT sites.*, NULL, NULL, (SELECT COUNT(*) FROM sites WHERE sites.county_id = $COUNTY)
FROM sites WHERE sites.county_id = $COUNTY ORDER BY sites.id ASC LIMIT 50 OFFSET 0;
SQL
# The cheapest SQL giving the same page: the rows as stored (each holds its latest check) and the total.
cat > /tmp/shuangbai-cheapest.sql <<SQL
SELECT sites.*, (SELECT COUNT(*) FROM sites WHERE sites.county_id = $COUNTY)
FROM sites WHERE sites.county_id = $COUNTY ORDER BY sites.id LIMIT 50;
SQL

echo "$scale data: $(psql -qAt "$URL" -c "SELECT count(*) FROM counties") counties, $(psql -qAt "$URL" -c "SELECT count(*) FROM sites") sites; county $COUNTY has $SITES sites"
for pool in $POOLS; do
  DATABASE_URL="$URL" SHUANGBAI_BIND="127.0.0.1:$PORT" SHUANGBAI_POOL_SIZE=$pool "$BIN" serve &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null || true' EXIT
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
  TOKEN=$(curl -fs -d grant_type=password -d username=bench.lists -d password=bench-password-0123 \
    "http://127.0.0.1:$PORT/api/v1/auth/token" | python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')
  # Warm-up, then the resident memory at rest.
  wrk -t2 -c16 -d3s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$PATH_Q" >/dev/null
  sleep 2
  idle=$(rss_kib $SERVER)
  for conns in 64 256; do
    out=$(wrk -t2 -c$conns -d${SECS}s --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$PATH_Q")
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
    peak=$(hwm_kib $SERVER)
    # PostgreSQL's default max_connections is 100, of which the service holds up to `pool`:
    # pgbench goes up to what is left, less a few.
    room=$(( 95 - pool ))
    clients=$(( conns < room ? conns : room ))
    bench() { pgbench -n -f "$1" -c $clients -j 2 -T "$SECS" -M prepared "$URL" 2>/dev/null | awk '/^tps/ {print $3; exit}'; }
    pg=$(bench /tmp/shuangbai-list.sql)
    cheapest=$(bench /tmp/shuangbai-cheapest.sql)
    printf '%s pool %-3s %3s connections: service %8s req/s, p99 %8s, peak RSS %6d KiB %s| pgbench, %s clients: its statement %8s tps, the cheapest SQL %8s tps\n' \
      "$scale" "$pool" "$conns" "$rps" "$p99" "$peak" "${errors:+($errors) }" "$clients" "$pg" "$cheapest"
  done
  printf '%s pool %-3s idle after warm-up: RSS %d KiB\n' "$scale" "$pool" "$idle"
  kill $SERVER; wait $SERVER 2>/dev/null || true
done
done
