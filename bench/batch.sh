#!/usr/bin/env bash
# A county's batch at national scale: 1,000 new points in one POST /api/v1/counties/{id}/updates,
# then the same batch again (all unchanged), beside the same rows written by PostgreSQL alone
# with one INSERT … ON CONFLICT through psql.
#
#   bash bench/batch.sh          # needs a local PostgreSQL (BENCH_ADMIN_URL); builds --release
#   BENCH_REUSE=1 bash bench/batch.sh   # reuse the national data bench/run.sh generated
#
# Each figure is the median of BENCH_RUNS runs, each with refs of its own; the client's wall
# time in both cases (HTTP for the service, psql for PostgreSQL). Nothing here is pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=shuangbai_bench
URL="${ADMIN_URL%/*}/$DB"
PORT=${BENCH_PORT:-18098}
RUNS=${BENCH_RUNS:-5}
SIZE=${BENCH_BATCH:-1000}
export SHUANGBAI_JWT_SECRET=bench-secret-bench-secret-bench-secret-0123
export RUST_LOG=warn

cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/shuangbai"

if [ "${BENCH_REUSE:-0}" != 1 ] || ! psql -qAt "$URL" -c "SELECT 1 FROM sites LIMIT 1" >/dev/null 2>&1; then
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  DATABASE_URL="$URL" "$BIN" migrate
  echo "generating national-scale data (a few minutes)…"
  psql -q "$URL" -f bench/generate.sql
fi
DATABASE_URL="$URL" SHUANGBAI_PASSWORD=bench-password-0123 "$BIN" user add bench.batch --role admin >/dev/null 2>&1 || true

# Webhook subscriptions may point at a closed local port: delivery is off, so what is measured is
# what the outbox adds to the write (each event's messages written in its transaction).
DATABASE_URL="$URL" SHUANGBAI_BIND="127.0.0.1:$PORT" SHUANGBAI_POOL_SIZE=8 \
  SHUANGBAI_WEBHOOK_ALLOW_PRIVATE=true SHUANGBAI_WEBHOOK_DELIVERY=off "$BIN" serve &
SERVER=$!
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -fs -d grant_type=password -d username=bench.batch -d password=bench-password-0123 \
  "http://127.0.0.1:$PORT/api/v1/auth/token" | python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')

# No subscriptions from an earlier run (BENCH_REUSE): the first figures are without webhooks.
psql -q "$URL" -c "DELETE FROM webhook_deliveries" -c "DELETE FROM webhook_messages" -c "DELETE FROM webhooks"
# A county in the middle, one of its towns and that town's station.
read -r COUNTY TOWN_ID TOWN_CODE STATION_REF STATION_ID < <(psql -qAt -F ' ' "$URL" -c "
  SELECT t.county_id, t.id, t.code, s.ref, s.id FROM towns t JOIN sites s ON s.town_id = t.id AND s.kind = 'station'
  WHERE t.county_id = (SELECT min(id) + 1500 FROM counties) ORDER BY t.id LIMIT 1")

batch_json() { # prefix → a batch of SIZE new points
  python3 - "$1" "$SIZE" "$TOWN_CODE" "$STATION_REF" <<'PY'
import json, sys
prefix, size, town, station = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sites = [{"kind": "point", "town_code": town, "station_ref": station, "village": f"基准村{i}",
          "name": f"基准村{i}社工点", "ref": f"{prefix}-{i}", "planned_on": "2021-03-01",
          "premises_secured_on": "2021-04-01"} for i in range(size)]
print(json.dumps({"sites": sites}, ensure_ascii=False))
PY
}
upsert_sql() { # prefix → the same rows as one INSERT … ON CONFLICT
  python3 - "$1" "$SIZE" "$COUNTY" "$TOWN_ID" "$STATION_ID" <<'PY'
import sys
prefix, size, county, town, station = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
rows = ",\n".join(
    f"({county}, {town}, 'point', {station}, '基准村{i}', '基准村{i}社工点', '{prefix}-{i}', 'planned', "
    f"DATE '2021-03-01', DATE '2021-04-01', 1, now(), now())" for i in range(size))
print(f"""INSERT INTO sites (county_id, town_id, kind, station_id, village, name, ref, status, planned_on,
  premises_secured_on, version, created_at, updated_at) VALUES {rows}
ON CONFLICT (county_id, ref) DO UPDATE SET village = EXCLUDED.village, name = EXCLUDED.name,
  planned_on = EXCLUDED.planned_on, premises_secured_on = EXCLUDED.premises_secured_on
WHERE (sites.village, sites.name, sites.planned_on, sites.premises_secured_on)
  IS DISTINCT FROM (EXCLUDED.village, EXCLUDED.name, EXCLUDED.planned_on, EXCLUDED.premises_secured_on);""")
PY
}
post() { # file → seconds
  curl -fs -o "$WORK/answer.json" -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' --data-binary @"$1" \
    "http://127.0.0.1:$PORT/api/v1/counties/$COUNTY/updates"
}
psql_s() { # file → seconds, psql's own wall time for the statement
  psql -qAt "$URL" -c '\timing on' -f "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk '{printf "%.4f\n", $1 / 1000}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: >"$WORK/new" ; : >"$WORK/same" ; : >"$WORK/pg_new" ; : >"$WORK/pg_same"
STAMP=$(date +%s)
for run in $(seq 1 "$RUNS"); do
  batch_json "bb$STAMP-$run" >"$WORK/batch.json"
  post "$WORK/batch.json" >>"$WORK/new"
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["counts"]; assert c["created"]==int(sys.argv[2]), c' "$WORK/answer.json" "$SIZE"
  post "$WORK/batch.json" >>"$WORK/same"
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["counts"]; assert c["unchanged"]==int(sys.argv[2]), c' "$WORK/answer.json" "$SIZE"
  upsert_sql "pg$STAMP-$run" >"$WORK/upsert.sql"
  psql_s "$WORK/upsert.sql" >>"$WORK/pg_new"
  psql_s "$WORK/upsert.sql" >>"$WORK/pg_same"
done

echo "data: $(psql -qAt "$URL" -c "SELECT count(*) FROM sites") sites; batches of $SIZE points into county $COUNTY (median of $RUNS)"
printf '%-34s %10s %14s %8s\n' "batch" "service" "INSERT…ON CONFLICT" "ratio"
for kind in new same; do
  s=$(median <"$WORK/$kind"); p=$(median <"$WORK/pg_$kind")
  printf '%-34s %9ss %13ss %7.1f×\n' "$([ $kind = new ] && echo "$SIZE new points" || echo "the same $SIZE again (unchanged)")" "$s" "$p" "$(awk -v s="$s" -v p="$p" 'BEGIN {print s / p}')"
done

# The outbox's cost: the same new batch with BENCH_SUBSCRIPTIONS (default 3) subscriptions that all
# receive its events (each batch then writes SIZE × that many messages in its transaction).
SUBS=${BENCH_SUBSCRIPTIONS:-3}
for _ in $(seq 1 "$SUBS"); do
  curl -fs -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{"url": "http://127.0.0.1:9/bench", "event_types": ["station.create", "station.update"]}' \
    "http://127.0.0.1:$PORT/api/v1/webhooks"
done
: >"$WORK/hooked"
for run in $(seq 1 "$RUNS"); do
  batch_json "bw$STAMP-$run" >"$WORK/batch.json"
  post "$WORK/batch.json" >>"$WORK/hooked"
done
s=$(median <"$WORK/hooked"); p=$(median <"$WORK/pg_new"); b=$(median <"$WORK/new")
printf '%-34s %9ss %13ss %7.1f×   (%.2f× without subscriptions; %s messages written)\n' "$SIZE new points, $SUBS subscriptions" "$s" "$p" \
  "$(awk -v s="$s" -v p="$p" 'BEGIN {print s / p}')" "$(awk -v s="$s" -v b="$b" 'BEGIN {print s / b}')" \
  "$(psql -qAt "$URL" -c "SELECT count(*) FROM webhook_messages")"
psql -q "$URL" -c "DELETE FROM webhook_messages" -c "DELETE FROM webhooks"
