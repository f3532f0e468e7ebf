#!/usr/bin/env bash
# The national-scale benchmark: 31 provinces, 333 cities, 3,000 counties, 640,000 sites, 200,000
# staff on PostgreSQL.
#
#   bash bench/run.sh            # needs a local PostgreSQL (BENCH_ADMIN_URL) and builds --release
#
# It prints, for the progress table and for a filtered page of sites: the service's latency over
# HTTP (median of several runs) beside PostgreSQL's own execution time for the same SQL, so the
# service's overhead is visible. Nothing here is a pass/fail test; rerun it after changes.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=shuangbai_bench
URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18099}
RUNS=${BENCH_RUNS:-9}
export SHUANGBAI_JWT_SECRET=bench-secret-bench-secret-bench-secret-0123
export RUST_LOG=warn

cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/shuangbai"

if [ "${BENCH_REUSE:-0}" != 1 ]; then
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  DATABASE_URL="$URL" "$BIN" migrate
  echo "generating national-scale data (a few minutes)…"
  psql -q "$URL" -f bench/generate.sql
  DATABASE_URL="$URL" SHUANGBAI_PASSWORD=bench-password-0123 "$BIN" user add bench.admin --role admin >/dev/null
fi

DATABASE_URL="$URL" SHUANGBAI_BIND="127.0.0.1:$PORT" SHUANGBAI_POOL_SIZE=8 "$BIN" serve &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done

TOKEN=$(curl -fs -d grant_type=password -d username=bench.admin -d password=bench-password-0123 \
  "http://127.0.0.1:$PORT/api/v1/auth/token" | python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cold() { # url → median seconds over RUNS, nothing kept before each request (db::kept)
  for _ in $(seq 1 "$RUNS"); do
    psql -qAt "$URL" -c "DELETE FROM kept_figures" >/dev/null
    curl -fs -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "$1"
  done | median
}
timed() { # url → median seconds over RUNS
  for _ in $(seq 1 "$RUNS"); do
    curl -fs -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "$1"
  done | median
}
pg_ms() { # SQL with $1 a date (and $2 an id, given as the second argument) → median execution
  # time in ms reported by EXPLAIN ANALYZE
  local types="date" args="'2021-06-09'"
  if [ -n "${2:-}" ]; then types="date, integer"; args="'2021-06-09', $2"; fi
  for _ in $(seq 1 "$RUNS"); do
    psql -qAt "$URL" -c "PREPARE q($types) AS $1" -c "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE q($args)" \
      | python3 -c 'import sys, json; print(json.load(sys.stdin)[0]["Execution Time"])'
  done | median
}

# The site aggregate, exactly as the service sends it for a scope (read from the source, not
# copied), with the equipment thresholds filled in as src/db/report.rs does: full from every item,
# basic from all but two (src/domain/site.rs). The argument: empty, city_id or province_id.
site_sql() {
  python3 - "${1:-}" <<'PY'
import re, sys
src = open("src/db/report.rs").read()
def const(name):
    m = re.search(r"const " + name + r': &str =\s*"((?:[^"\\]|\\.)*)";', src, re.S)
    return re.sub(r"\\\n\s*", "", m.group(1))
items = int(re.search(r"pub const ITEM_COUNT: usize = (\d+);", open("src/domain/site.rs").read()).group(1))
column = sys.argv[1]
counties = const("COUNTIES_WHERE").replace("{column}", column)
scoped = lambda t: t.replace("{counties}", counties) if column else ""
print(const("SITE_AGGREGATE_TEMPLATE").replace("{full}", str(items)).replace("{basic}", str(items - 2))
      .replace("{sites_in_scope}", scoped(const("SITES_IN_SCOPE")))
      .replace("{checks_in_scope}", scoped(const("CHECKS_IN_SCOPE"))))
PY
}

echo
psql -qAt "$URL" -c "SELECT 'data: ' || (SELECT count(*) FROM counties) || ' counties, ' || (SELECT count(*) FROM sites) || ' sites, ' || (SELECT count(*) FROM staff) || ' staff'"
# Each level's table over HTTP counted afresh (nothing kept), beside PostgreSQL's own time for its
# site aggregate (the one pass over the sites that dominates every level's cost).
PROVINCE=$(psql -qAt "$URL" -c "SELECT min(id) FROM provinces WHERE division_code = '440000'")
CITY=$(psql -qAt "$URL" -c "SELECT min(id) FROM cities WHERE province_id = $PROVINCE")
TABLE="http://127.0.0.1:$PORT/api/v1/reports/progress?as_of=2021-06-09"
echo "national table, a row per province, over HTTP (median of $RUNS): $(cold "$TABLE") s"
echo "national table, a row per county (3,000 rows), over HTTP: $(cold "$TABLE&by=county") s"
echo "  its site aggregate over every site in PostgreSQL (EXPLAIN ANALYZE): $(pg_ms "$(site_sql)") ms"
echo "one province's table, a row per city, over HTTP: $(cold "$TABLE&province_id=$PROVINCE") s"
echo "  its site aggregate in PostgreSQL: $(pg_ms "$(site_sql province_id)" "$PROVINCE") ms"
echo "one city's table, over HTTP: $(cold "$TABLE&city_id=$CITY") s"
echo "  its site aggregate in PostgreSQL: $(pg_ms "$(site_sql city_id)" "$CITY") ms"
COUNTY=$(psql -qAt "$URL" -c "SELECT min(id) + 1500 FROM counties")

# Kept counts (db::kept): the national table by county cold (nothing kept), warm (asked again),
# and right after a batch in one county (that county's rows counted again, the rest kept).
once() { curl -fs -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" "$1"; }
psql -qAt "$URL" -c "DELETE FROM kept_figures" -c "DELETE FROM kept_dates" >/dev/null
echo "kept: the national table by county, cold (nothing kept): $(once "$TABLE&by=county") s"
echo "kept: the same, warm (asked again; median of $RUNS): $(timed "$TABLE&by=county") s"
read -r TOWN_CODE STATION_REF < <(psql -qAt -F ' ' "$URL" -c "SELECT t.code, s.ref FROM sites s JOIN towns t ON t.id = s.town_id
  WHERE s.county_id = $COUNTY AND s.kind = 'station' ORDER BY s.id LIMIT 1")
after_batch() {
  for i in $(seq 1 "$RUNS"); do
    curl -fs -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -d "{\"sites\": [{\"kind\": \"point\", \"town_code\": \"$TOWN_CODE\", \"station_ref\": \"$STATION_REF\", \"village\": \"基准村$i\",
           \"name\": \"基准点$i\", \"ref\": \"BENCH-KEPT-$$-$i\", \"planned_on\": \"2021-03-01\"}]}" \
      "http://127.0.0.1:$PORT/api/v1/counties/$COUNTY/updates"
    once "$TABLE&by=county"
  done | median
}
echo "kept: the same right after a batch in one county (median of $RUNS): $(after_batch) s"
# The store's size without the dead rows the cold runs above left (VACUUM FULL compacts it).
psql -qAt "$URL" -c "VACUUM FULL kept_figures" >/dev/null
echo "kept: $(psql -qAt "$URL" -c "SELECT count(*) || ' rows for ' || count(DISTINCT (as_of, fiscal_year)) || ' date(s), '
  || pg_size_pretty(pg_total_relation_size('kept_figures')) || ' with indexes, '
  || pg_total_relation_size('kept_figures') / greatest(count(*), 1) || ' bytes a row' FROM kept_figures")"
# Reporting rounds: a province's (its cities and its level, the level signed off) and a city's;
# completeness and the round's table read the live table from kept figures and a fixed number of
# other queries whatever the number of participants.
api() { curl -fs -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
new_round() { # level id → round id
  api -d "{\"title\": \"基准轮次\", \"level\": \"$1\", \"$1_id\": $2, \"as_of\": \"2021-06-09\", \"due_on\": \"2099-01-01\"}" \
    "http://127.0.0.1:$PORT/api/v1/rounds" | python3 -c 'import sys, json; print(json.load(sys.stdin)["id"])'
}
P_ROUND=$(new_round province "$PROVINCE")
LEVEL_PARTICIPANT=$(api "http://127.0.0.1:$PORT/api/v1/rounds/$P_ROUND/participants?limit=500" \
  | python3 -c 'import sys, json; print([p for p in json.load(sys.stdin)["items"] if p["kind"] == "level"][0]["participant_id"])')
api -d '{}' "http://127.0.0.1:$PORT/api/v1/rounds/$P_ROUND/participants/$LEVEL_PARTICIPANT/submissions" >/dev/null
R="http://127.0.0.1:$PORT/api/v1/rounds/$P_ROUND"
echo "a province's round ($(api "$R" | python3 -c 'import sys, json; print(json.load(sys.stdin)["participants"])') participants): completeness, cold: $(cold "$R/completeness") s; warm: $(timed "$R/completeness") s"
echo "  its table, warm: $(timed "$R/table") s; its chase list as XLSX, warm: $(timed "$R/completeness/export?format=xlsx") s"
C_ROUND=$(new_round city "$CITY")
R="http://127.0.0.1:$PORT/api/v1/rounds/$C_ROUND"
echo "a city's round ($(api "$R" | python3 -c 'import sys, json; print(json.load(sys.stdin)["participants"])') participants): completeness, cold: $(cold "$R/completeness") s; warm: $(timed "$R/completeness") s"
echo "a page of 50 points of one county, over HTTP: $(timed "http://127.0.0.1:$PORT/api/v1/stations?county_id=$COUNTY&kind=point&limit=50&sort=name") s"
echo "a page of 50 staff in post on a date, over HTTP: $(timed "http://127.0.0.1:$PORT/api/v1/staff?county_id=$COUNTY&in_post_on=2021-06-09&limit=50") s"
echo "staff counts for every county, over HTTP: $(timed "http://127.0.0.1:$PORT/api/v1/staff/counts?as_of=2021-06-09") s"
if command -v wrk >/dev/null; then
  echo "throughput, 8 connections, 10 s, the page of points:"
  wrk -t2 -c8 -d10s -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:$PORT/api/v1/stations?county_id=$COUNTY&kind=point&limit=50" | sed -n '3,8p'
fi
