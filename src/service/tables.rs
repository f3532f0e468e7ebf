//! Computing the progress table for a place: counting each county-level row in SQL (a handful
//! of queries whatever the level), keeping the counts in the database between requests
//! (`db::kept`: each row's counts are counted again only once a write has moved its
//! generation), and arranging rows into a city's, a province's or the nation's table.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};

use crate::clock::now;
use std::sync::mpsc::{sync_channel, SyncSender};

use crate::config::Keeping;
use crate::db::cities as city_q;
use crate::db::counties::{self as counties_q, CountyRow, Scope};
use crate::db::kept::{self as kept_q, KeptKey, KeptRow};
use crate::db::provinces as province_q;
use crate::db::{self, DbConnection, DbPool};
use crate::db::{funding as funding_q, report, staff as staff_q, trainings as trainings_q};
use crate::domain::report::{build, Counted, CountyFacts, Division, FundingFacts, SiteFigures};
use crate::domain::report::{ProgressTable, RowCounts, RowsBy, TableLevel, TableOf, RULES_VERSION};
use crate::domain::site::SiteKind;
use crate::error::ApiError;

/// Whose table a request asks for, and the name it is titled with.
#[derive(Debug, Clone)]
pub struct Place {
    pub of: TableOf,
    /// The city's or the province's name (none for one still named by its code); 全国 for the
    /// nation.
    pub name: Option<String>,
}

impl Place {
    /// The county-level rows the table counts.
    pub fn scope(&self) -> Scope<'static> {
        match (self.of.city_id, self.of.province_id) {
            (Some(c), _) => Scope::City(c),
            (None, Some(p)) => Scope::Province(p),
            (None, None) => Scope::All,
        }
    }
}

/// A division's own name, or none while it is still named by its code.
fn own_name(name: &str, code: &str) -> Option<String> {
    (name != code).then(|| name.to_string())
}

/// The table asked for: city `city_id`'s, province `province_id`'s (not both), or without
/// either the deployment's at its highest level with more than one member (one city: that
/// city's; one province with several cities: the province's; several provinces: the nation's).
/// `by` must fit the level (422 naming `by`).
pub fn place(
    conn: &mut DbConnection,
    city_id: Option<i32>,
    province_id: Option<i32>,
    by: Option<RowsBy>,
) -> Result<Place, ApiError> {
    let city_place = |city: &city_q::CityRow| {
        (
            TableLevel::City,
            Some(city.id),
            None,
            own_name(&city.name, &city.division_code),
        )
    };
    let province_place = |p: &province_q::ProvinceRow| {
        (
            TableLevel::Province,
            None,
            Some(p.id),
            own_name(&p.name, &p.division_code),
        )
    };
    let (level, city, province, name) = match (city_id, province_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "province_id",
                "give city_id or province_id, not both",
            ))
        }
        (Some(id), None) => city_place(
            &city_q::find(conn, id)?
                .ok_or_else(|| ApiError::invalid("city_id", format!("city {id} does not exist")))?,
        ),
        (None, Some(id)) => province_place(&province_q::find(conn, id)?.ok_or_else(|| {
            ApiError::invalid("province_id", format!("province {id} does not exist"))
        })?),
        (None, None) => match province_q::in_code_order(conn, Some(2))?.as_slice() {
            [] => (TableLevel::City, None, None, None),
            [one] => match city_q::in_code_order(conn, Some(one.id), Some(2))?.as_slice() {
                [city] => city_place(city),
                _ => province_place(one),
            },
            _ => (TableLevel::Nation, None, None, Some("全国".to_string())),
        },
    };
    let by = level.rows_by(by).map_err(|m| ApiError::invalid("by", m))?;
    Ok(Place {
        of: TableOf {
            level,
            by,
            city_id: city,
            province_id: province,
        },
        name,
    })
}

fn key(as_of: NaiveDate, fiscal_year: i32) -> KeptKey<'static> {
    KeptKey {
        as_of,
        fiscal_year,
        rules_version: RULES_VERSION,
    }
}

/// What a table counted, to keep (perhaps nothing: then its date is only marked as asked for).
#[derive(Debug)]
pub struct KeepJob {
    as_of: NaiveDate,
    fiscal_year: i32,
    rows: Vec<KeptRow>,
}

/// Keeps what tables counted from a thread of its own, so no reader waits for the write.
/// At most 16 jobs wait; past that a job is dropped, and its rows are simply counted again by
/// the next table that asks.
#[derive(Clone, Debug)]
pub struct Keeper {
    jobs: Option<SyncSender<KeepJob>>,
}

impl Keeper {
    pub fn start(pool: DbPool, keeping: Keeping) -> Keeper {
        let (jobs, queue) = sync_channel::<KeepJob>(16);
        let worker = std::thread::Builder::new()
            .name("kept-figures".into())
            .spawn(move || {
                for job in queue {
                    if let Err(e) = pool.run_blocking(|conn| store(conn, &job, keeping)) {
                        log::warn!("the table's counts as of {} were not kept: {e}", job.as_of);
                    }
                }
            });
        match worker {
            Ok(_) => Keeper { jobs: Some(jobs) },
            Err(e) => {
                log::warn!(
                    "no thread to keep the table's counts ({e}): they are counted each time"
                );
                Keeper { jobs: None }
            }
        }
    }

    fn hand_over(&self, job: KeepJob) {
        if let Some(jobs) = &self.jobs {
            match jobs.try_send(job) {
                Ok(()) => {}
                Err(std::sync::mpsc::TrySendError::Full(_)) => {
                    log::debug!("the keeper is busy: counts left to be counted again");
                }
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                    log::warn!("the keeper has stopped: the table's counts are counted each time");
                }
            }
        }
    }
}

/// Stores a job's counts and marks its date as asked for (always with counts, so every kept row
/// has its date in `kept_dates`, where pruning finds it), bounding the store.
fn store(conn: &mut DbConnection, job: &KeepJob, keeping: Keeping) -> Result<(), ApiError> {
    let key = key(job.as_of, job.fiscal_year);
    db::write_transaction(conn, |c| {
        kept_q::keep(c, key, &job.rows)?;
        let at = now();
        let stale_before = at - Duration::days(i64::from(keeping.days));
        kept_q::touch_and_prune(c, key, at, stale_before, keeping.dates)?;
        Ok(())
    })
}

/// The table of `place` as of a date for a reader: kept counts and the generations they are
/// checked against are read in one snapshot (a write committing meanwhile is never half seen),
/// and stale rows are counted again in one pass; what was counted goes to the `keeper`.
///
/// Upgrading: instances of a version without kept figures write without moving generations, so
/// deploy all instances together, or empty `kept_figures` once the last old one has stopped.
pub fn read_table(
    conn: &mut DbConnection,
    place: &Place,
    as_of: NaiveDate,
    fiscal_year: i32,
    keeper: &Keeper,
) -> Result<ProgressTable, ApiError> {
    Ok(read_table_and(conn, place, as_of, fiscal_year, keeper, |_| Ok(()))?.0)
}

/// [`read_table`], and `also` read in the same snapshot (a round's submissions, compared with
/// the table).
pub fn read_table_and<T>(
    conn: &mut DbConnection,
    place: &Place,
    as_of: NaiveDate,
    fiscal_year: i32,
    keeper: &Keeper,
    also: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
) -> Result<(ProgressTable, T), ApiError> {
    let key = key(as_of, fiscal_year);
    let (table, rows, asked, extra) = db::snapshot_read(conn, |c| {
        let (table, rows) = kept_table(c, place, as_of, fiscal_year)?;
        let asked = kept_q::last_asked(c, key)?;
        Ok::<_, ApiError>((table, rows, asked, also(c)?))
    })?;
    // A date asked for within the hour and with nothing new to keep costs no write.
    let touch = asked.is_none_or(|last| last < now() - Duration::hours(1));
    if !rows.is_empty() || touch {
        keeper.hand_over(KeepJob {
            as_of,
            fiscal_year,
            rows,
        });
    }
    Ok((table, extra))
}

/// The table of `place` as of a date inside the caller's transaction (a bulletin being
/// published): kept counts where they are current, the rest counted. Nothing is kept from
/// here: a write in the publishing transaction would hold its locks until the bulletin commits.
pub fn progress_table(
    conn: &mut DbConnection,
    place: &Place,
    as_of: NaiveDate,
    fiscal_year: i32,
) -> Result<ProgressTable, ApiError> {
    Ok(kept_table(conn, place, as_of, fiscal_year)?.0)
}

/// The table of `place` counted from scratch, neither reading nor keeping counts: what the kept
/// answer must always equal (the tests compare them).
pub fn recounted_table(
    conn: &mut DbConnection,
    place: &Place,
    as_of: NaiveDate,
    fiscal_year: i32,
) -> Result<ProgressTable, ApiError> {
    let scope = place.scope();
    if place.of.level == TableLevel::City && place.of.city_id.is_none() {
        return arrange(conn, place, as_of, fiscal_year, Vec::new(), HashMap::new());
    }
    let counties = counties_q::in_scope(conn, scope)?;
    let ids: Vec<i32> = counties.iter().map(|c| c.id).collect();
    let counts = count_rows(conn, scope, &ids, as_of, fiscal_year)?;
    arrange(conn, place, as_of, fiscal_year, counties, counts)
}

/// The table from kept counts where their generation is current, the other rows counted again
/// in one pass (the place's whole scope when none is current); answers what it counted, to keep.
fn kept_table(
    conn: &mut DbConnection,
    place: &Place,
    as_of: NaiveDate,
    fiscal_year: i32,
) -> Result<(ProgressTable, Vec<KeptRow>), ApiError> {
    if place.of.level == TableLevel::City && place.of.city_id.is_none() {
        let table = arrange(conn, place, as_of, fiscal_year, Vec::new(), HashMap::new())?;
        return Ok((table, Vec::new()));
    }
    let scope = place.scope();
    let counties = counties_q::in_scope(conn, scope)?;
    let states = kept_q::state_in_scope(conn, scope, key(as_of, fiscal_year))?;
    let states: HashMap<i32, kept_q::KeptState> =
        states.into_iter().map(|s| (s.county_id, s)).collect();
    let mut counts: HashMap<i32, RowCounts> = HashMap::with_capacity(counties.len());
    let mut stale: Vec<i32> = Vec::new();
    for c in &counties {
        let kept = states
            .get(&c.id)
            .and_then(|s| match (&s.counts, s.kept_generation) {
                (Some(json), Some(g)) if g == s.generation => serde_json::from_str(json).ok(),
                _ => None,
            });
        match kept {
            Some(k) => {
                counts.insert(c.id, k);
            }
            None => stale.push(c.id),
        }
    }
    let mut counted: Vec<KeptRow> = Vec::with_capacity(stale.len());
    if !stale.is_empty() {
        let fresh = if stale.len() == counties.len() {
            count_rows(conn, scope, &stale, as_of, fiscal_year)?
        } else {
            count_rows(conn, Scope::Rows(&stale), &stale, as_of, fiscal_year)?
        };
        for (id, c) in fresh {
            counted.push(KeptRow {
                county_id: id,
                generation: states.get(&id).map_or(0, |s| s.generation),
                counts: serde_json::to_string(&c).map_err(|e| ApiError::internal(e.to_string()))?,
            });
            counts.insert(id, c);
        }
        // In id order, as generations are bumped: two writers of kept rows lock them alike.
        counted.sort_unstable_by_key(|r| r.county_id);
    }
    let table = arrange(conn, place, as_of, fiscal_year, counties, counts)?;
    Ok((table, counted))
}

/// Counts rows `ids` (those of `scope`) as of a date: plan statuses, one pass over the sites,
/// staff in post, funding and trainings, none per row.
fn count_rows(
    conn: &mut DbConnection,
    scope: Scope,
    ids: &[i32],
    as_of: NaiveDate,
    fiscal_year: i32,
) -> Result<HashMap<i32, RowCounts>, ApiError> {
    let every = scope == Scope::All;
    let plans = counties_q::plan_status_as_of(conn, (!every).then_some(ids), as_of)?;
    let sites = report::site_aggregates(conn, as_of, scope)?;
    let staff = staff_q::in_post_by_county_and_kind(conn, as_of, scope)?;
    let funding = funding_q::funding_as_of(conn, fiscal_year, as_of, scope)?;
    let trainings = trainings_q::trainings_held_by(conn, as_of, scope)?;

    // Indexed by county, so arranging 3,000 counties is linear.
    let sites: HashMap<(i32, SiteKind), &report::SiteAggregate> =
        sites.iter().map(|a| ((a.county_id, a.kind), a)).collect();
    let staff: HashMap<(i32, SiteKind), i64> =
        staff.into_iter().map(|(c, k, n)| ((c, k), n)).collect();
    let plans: HashMap<i32, &counties_q::PlanChangeRow> =
        plans.iter().map(|p| (p.county_id, p)).collect();
    let funding: HashMap<i32, &funding_q::FundingAsOf> =
        funding.iter().map(|f| (f.county_id, f)).collect();
    let trainings: HashMap<i32, i64> = trainings.into_iter().collect();
    let figures = |county_id: i32, kind: SiteKind| -> SiteFigures {
        let mut f = sites
            .get(&(county_id, kind))
            .map(|a| SiteFigures {
                planned: a.planned,
                completed: a.completed,
                premises: a.premises,
                full: a.full,
                basic: a.basic,
                incomplete: a.incomplete,
                staff: 0,
            })
            .unwrap_or_default();
        f.staff = staff.get(&(county_id, kind)).copied().unwrap_or(0);
        f
    };
    Ok(ids
        .iter()
        .map(|&id| {
            let counts = RowCounts {
                stations: figures(id, SiteKind::Station),
                points: figures(id, SiteKind::Point),
                plan: plans.get(&id).map(|p| (p.stage, p.note.clone())),
                funding: funding.get(&id).map(|f| FundingFacts {
                    request_id: f.request_id,
                    stage: f.stage,
                    requested_fen: f.requested_fen,
                    approved_fen: f.approved_fen,
                    note: f.note.clone(),
                }),
                trainings: trainings.get(&id).copied().unwrap_or(0),
            };
            (id, counts)
        })
        .collect())
}

/// The rows with their counts, under the cities and provinces the table arranges them by.
fn arrange(
    conn: &mut DbConnection,
    place: &Place,
    as_of: NaiveDate,
    fiscal_year: i32,
    counties: Vec<CountyRow>,
    mut counts: HashMap<i32, RowCounts>,
) -> Result<ProgressTable, ApiError> {
    let of = place.of;
    let division = |id, division_code, name, province_id| Division {
        id,
        division_code,
        name,
        province_id,
    };
    let cities: Vec<Division> = match of.level {
        TableLevel::City => Vec::new(),
        _ => city_q::in_code_order(conn, of.province_id, None)?
            .into_iter()
            .map(|c| division(c.id, c.division_code, c.name, Some(c.province_id)))
            .collect(),
    };
    let provinces: Vec<Division> = match of.level {
        TableLevel::Nation => province_q::in_code_order(conn, None)?
            .into_iter()
            .map(|p| division(p.id, p.division_code, p.name, None))
            .collect(),
        _ => Vec::new(),
    };
    let counted = counties
        .into_iter()
        .map(|c| {
            let n = counts.remove(&c.id).unwrap_or_default();
            Counted {
                stations: n.stations,
                points: n.points,
                funding: n.funding,
                trainings: n.trainings,
                county: CountyFacts {
                    county_id: c.id,
                    kind: c.kind,
                    division_code: c.division_code,
                    name: c.name,
                    city_id: c.city_id,
                    province_id: c.province_id,
                    plan: n.plan,
                    coordination_on: c.coordination_established_on,
                    management_on: c.management_established_on,
                },
            }
        })
        .collect();
    Ok(build(of, as_of, fiscal_year, &provinces, &cities, counted))
}
