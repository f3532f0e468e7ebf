//! Queries on `figure_generations`, `kept_figures` and `kept_dates`: the progress table's
//! counts per county-level row, kept between requests and shared by every instance.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer, Nullable, Text, Timestamp};

use super::counties::Scope;
use super::DbConnection;

/// Which kept counts: a date, a fiscal year and a version of the counting rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeptKey<'a> {
    pub as_of: NaiveDate,
    pub fiscal_year: i32,
    pub rules_version: &'a str,
}

/// A county-level row's generation now, and what is kept for it under a key.
#[derive(Debug, Clone, QueryableByName)]
pub struct KeptState {
    #[diesel(sql_type = Integer)]
    pub county_id: i32,
    /// 0 for a row no write has named since it was made.
    #[diesel(sql_type = BigInt)]
    pub generation: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub kept_generation: Option<i64>,
    /// The kept counts (JSON), when there are any.
    #[diesel(sql_type = Nullable<Text>)]
    pub counts: Option<String>,
}

const STATE_SQL: &str = "
SELECT c.id AS county_id, COALESCE(g.generation, 0) AS generation,
       k.generation AS kept_generation, k.counts AS counts
FROM counties c
LEFT JOIN figure_generations g ON g.county_id = c.id
LEFT JOIN kept_figures k ON k.as_of = $1 AND k.fiscal_year = $2 AND k.rules_version = $3
                         AND k.county_id = c.id";

/// Every row of the scope with its generation and its kept counts under `key`, in one statement
/// (so both come from one snapshot).
pub fn state_in_scope(
    conn: &mut DbConnection,
    scope: Scope,
    key: KeptKey,
) -> QueryResult<Vec<KeptState>> {
    let (filter, id) = match scope {
        Scope::All => ("", None),
        Scope::Province(p) => (" WHERE c.province_id = $4", Some(p)),
        Scope::City(c) => (" WHERE c.city_id = $4", Some(c)),
        Scope::Rows(_) => {
            return Err(diesel::result::Error::QueryBuilderError(
                "kept state is read for a whole scope".into(),
            ))
        }
    };
    let query = diesel::sql_query(format!("{STATE_SQL}{filter}"))
        .bind::<Date, _>(key.as_of)
        .bind::<Integer, _>(key.fiscal_year)
        .bind::<Text, _>(key.rules_version);
    match id {
        None => query.load(conn),
        Some(id) => query.bind::<Integer, _>(id).load(conn),
    }
}

/// When a table last asked for `key`; none when it is not kept.
pub fn last_asked(conn: &mut DbConnection, key: KeptKey) -> QueryResult<Option<NaiveDateTime>> {
    use super::schema::kept_dates as d;
    d::table
        .filter(d::as_of.eq(key.as_of))
        .filter(d::fiscal_year.eq(key.fiscal_year))
        .filter(d::rules_version.eq(key.rules_version))
        .select(d::last_asked_at)
        .first(conn)
        .optional()
}

/// Bumps the generation of each of `county_ids` (those that still exist), in the caller's
/// transaction: every audited write calls it, so counts kept before the write are never served
/// after it. In id order, so two writers lock rows in the same order.
pub fn bump(conn: &mut DbConnection, county_ids: &[i32]) -> QueryResult<()> {
    if county_ids.is_empty() {
        return Ok(());
    }
    let mut ids = county_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    // Ids are numbers read from the database, written into the statement: one statement for
    // any number of rows on both backends.
    let list: Vec<String> = ids.iter().map(i32::to_string).collect();
    diesel::sql_query(format!(
        "INSERT INTO figure_generations (county_id, generation)
         SELECT id, 1 FROM counties WHERE id IN ({}) ORDER BY id
         ON CONFLICT (county_id) DO UPDATE SET generation = figure_generations.generation + 1",
        list.join(",")
    ))
    .execute(conn)?;
    Ok(())
}

/// One row's counts to keep, counted at `generation`.
#[derive(Debug, Clone)]
pub struct KeptRow {
    pub county_id: i32,
    pub generation: i64,
    pub counts: String,
}

/// Keeps `rows` under `key`, replacing what was kept. A pair stored is always consistent (its
/// counts were counted at or after its generation was read), so a race between two readers can
/// only leave counts that look stale and are counted again, never stale counts that look fresh.
pub fn keep(conn: &mut DbConnection, key: KeptKey, rows: &[KeptRow]) -> QueryResult<()> {
    for chunk in rows.chunks(500) {
        let mut sql = String::from(
            "INSERT INTO kept_figures (as_of, fiscal_year, rules_version, county_id, generation, counts) VALUES ",
        );
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = 3 + i * 3;
                format!("($1, $2, $3, ${}, ${}, ${})", b + 1, b + 2, b + 3)
            })
            .collect();
        sql.push_str(&values.join(", "));
        sql.push_str(
            " ON CONFLICT (as_of, fiscal_year, rules_version, county_id) DO UPDATE \
             SET generation = excluded.generation, counts = excluded.counts",
        );
        let mut query = diesel::sql_query(sql)
            .bind::<Date, _>(key.as_of)
            .bind::<Integer, _>(key.fiscal_year)
            .bind::<Text, _>(key.rules_version.to_string())
            .into_boxed();
        for row in chunk {
            query = query
                .bind::<Integer, _>(row.county_id)
                .bind::<BigInt, _>(row.generation)
                .bind::<Text, _>(row.counts.clone());
        }
        query.execute(conn)?;
    }
    Ok(())
}

/// Records that a table asked for `key` at `now`, then bounds the store: counts of dates no
/// table asked for since `stale_before` are dropped, and of the rest only the `max_dates` asked
/// for most recently are kept.
pub fn touch_and_prune(
    conn: &mut DbConnection,
    key: KeptKey,
    now: NaiveDateTime,
    stale_before: NaiveDateTime,
    max_dates: u32,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO kept_dates (as_of, fiscal_year, rules_version, last_asked_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (as_of, fiscal_year, rules_version) DO UPDATE SET last_asked_at = excluded.last_asked_at",
    )
    .bind::<Date, _>(key.as_of)
    .bind::<Integer, _>(key.fiscal_year)
    .bind::<Text, _>(key.rules_version)
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    // The dates to drop: asked for too long ago, or beyond the most recent `max_dates`.
    let dropped = "SELECT as_of, fiscal_year, rules_version FROM kept_dates
                   WHERE last_asked_at < $1
                   UNION
                   SELECT as_of, fiscal_year, rules_version FROM
                     (SELECT as_of, fiscal_year, rules_version FROM kept_dates
                      ORDER BY last_asked_at DESC LIMIT 1000000 OFFSET $2) beyond";
    for table in ["kept_figures", "kept_dates"] {
        diesel::sql_query(format!(
            "DELETE FROM {table} WHERE (as_of, fiscal_year, rules_version) IN ({dropped})"
        ))
        .bind::<Timestamp, _>(stale_before)
        .bind::<BigInt, _>(i64::from(max_dates))
        .execute(conn)?;
    }
    Ok(())
}
