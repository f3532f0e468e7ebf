//! `/api/v1/reports/progress`: the progress table (进度情况一览表) as of any date, computed from
//! the records, as JSON or in the bureau's layout (CSV).

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::snapshots::{self, NewSnapshot, SnapshotRow};
use crate::db::{self, report};
use crate::domain::export::{layout, to_csv, to_xlsx};
use crate::domain::report::ProgressTable;
use crate::domain::report::{compare, CountChange, CountyChanges, RULES_VERSION};
use crate::domain::{business_date, parse_name, Violations};
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::{now, utc, Json, Page, Paging};
use crate::routes::responses::*;
use crate::state::AppState;
use crate::write::{write_then, WriteCtx, NOTHING};

/// What a table is answered as. The JSON operations still honour `?format=csv|xlsx` and
/// `Accept: text/csv` for callers written before the export operations, without declaring it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Json,
    Csv,
    Xlsx,
}

/// The file an export gives: `csv` (the seed's layout, UTF-8 with BOM) or `xlsx` (the same
/// layout with merged header cells, one landscape page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

impl From<ExportFormat> for ReportFormat {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Csv => ReportFormat::Csv,
            ExportFormat::Xlsx => ReportFormat::Xlsx,
        }
    }
}

/// A downloaded file: `type: string, format: binary` for every media type, so generated
/// clients hand over bytes instead of parsing them.
pub struct ExportFile;

impl utoipa::PartialSchema for ExportFile {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for ExportFile {}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgressQuery {
    /// The date the table is computed as of; default today in the bureau's time zone.
    pub as_of: Option<NaiveDate>,
    /// Whose funding requests are shown; default the year of `as_of`.
    #[param(minimum = 2000, maximum = 2100)]
    pub fiscal_year: Option<i32>,
}

/// What the JSON operation reads: its declared parameters and the undeclared ones kept for
/// older callers (`format`, `issuing_unit`, `title`).
#[derive(Debug, Deserialize)]
pub struct ProgressQueryKept {
    pub as_of: Option<NaiveDate>,
    pub fiscal_year: Option<i32>,
    pub format: Option<ReportFormat>,
    pub issuing_unit: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgressExportQuery {
    /// `csv` or `xlsx`.
    pub format: ExportFormat,
    /// The date the table is computed as of; default today in the bureau's time zone.
    pub as_of: Option<NaiveDate>,
    /// Whose funding requests are shown; default the year of `as_of`.
    #[param(minimum = 2000, maximum = 2100)]
    pub fiscal_year: Option<i32>,
    /// 制表单位, the issuing unit printed above the table; default 市民政局.
    pub issuing_unit: Option<String>,
    /// The title row; default the year's standard title.
    pub title: Option<String>,
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The format asked for, by `?format=` or else `Accept`.
pub fn wanted(req: &HttpRequest, format: Option<ReportFormat>) -> ReportFormat {
    if let Some(f) = format {
        return f;
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("text/csv") {
        ReportFormat::Csv
    } else if accept.contains(XLSX) {
        ReportFormat::Xlsx
    } else {
        ReportFormat::Json
    }
}

/// The table as JSON, or as a download in the seed's layout (CSV or XLSX).
pub fn render(
    table: &ProgressTable,
    format: ReportFormat,
    title: &str,
    issuing_unit: &str,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let (content_type, ext, body) = match format {
        ReportFormat::Json => return Ok(HttpResponse::Ok().json(table)),
        ReportFormat::Csv => (
            "text/csv; charset=utf-8",
            "csv",
            to_csv(&layout(table, title, issuing_unit)),
        ),
        ReportFormat::Xlsx => (
            XLSX,
            "xlsx",
            to_xlsx(&layout(table, title, issuing_unit)).map_err(ApiError::internal)?,
        ),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_DISPOSITION, disposition(name, title, ext)))
        .body(body))
}

/// `attachment` with a plain ASCII name for any client and, per RFC 6266 / 5987, the title
/// and date as the UTF-8 name (`2021年…一览表-2021-06-09.csv`) for those that read it.
fn disposition(plain: &str, title: &str, ext: &str) -> String {
    let date = plain.trim_start_matches("progress-");
    let full = format!("{title}-{date}.{ext}");
    let encoded: String = full
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{plain}.{ext}\"; filename*=UTF-8''{encoded}")
}

/// The issuing unit printed on live exports when none is given.
const DEFAULT_UNIT: &str = "市民政局";

pub fn default_title(as_of: NaiveDate) -> String {
    format!("{}年“双百工程”社工站（点）建设进度情况一览表", as_of.year())
}

fn bounded(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > 100 => {
            Err(ApiError::invalid(field, "must be at most 100 characters"))
        }
        Some(v) => {
            crate::domain::check_visible_text(v, false).map_err(|m| ApiError::invalid(field, m))?;
            Ok(Some(v.to_string()))
        }
    }
}

/// The table as of `as_of` for `fiscal_year` (default the year of `as_of`), with the export's
/// title and issuing unit checked.
async fn live_table(
    state: &AppState,
    as_of: Option<NaiveDate>,
    fiscal_year: Option<i32>,
) -> Result<(NaiveDate, ProgressTable), ApiError> {
    let today = state.today();
    let as_of = as_of.unwrap_or(today);
    if as_of > today {
        return Err(ApiError::invalid(
            "as_of",
            format!("{as_of} is in the future (today is {today}); the table counts facts that have happened"),
        ));
    }
    let fiscal_year = fiscal_year.unwrap_or_else(|| as_of.year());
    if !(2000..=2100).contains(&fiscal_year) {
        return Err(ApiError::invalid(
            "fiscal_year",
            "must be between 2000 and 2100",
        ));
    }
    let table = db::run(&state.pool, move |conn| {
        report::progress_table(conn, as_of, fiscal_year)
    })
    .await?;
    Ok((as_of, table))
}

#[utoipa::path(
    tag = "reports",
    params(ProgressQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The table: a row per county, the city level last, and the totals (for the bureau's layout, see the export)", body = ProgressTable),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 422, description = "A date in the future, or a bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/reports/progress")]
pub async fn progress_report(
    state: web::Data<AppState>,
    _caller: Caller,
    req: HttpRequest,
    query: web::Query<ProgressQueryKept>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let unit = bounded("issuing_unit", query.issuing_unit.as_deref())?;
    let title = bounded("title", query.title.as_deref())?;
    let (as_of, table) = live_table(&state, query.as_of, query.fiscal_year).await?;
    render(
        &table,
        wanted(&req, query.format),
        &title.unwrap_or_else(|| default_title(as_of)),
        &unit.unwrap_or_else(|| DEFAULT_UNIT.to_string()),
        &format!("progress-{as_of}"),
    )
}

/// The table in the bureau's layout, as a file to download.
#[utoipa::path(
    tag = "reports",
    params(ProgressExportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The table in the seed's layout; `Content-Disposition` names the file after the title and date",
            headers(("Content-Disposition" = String)),
            content(
                (inline(ExportFile) = "text/csv"),
                (inline(ExportFile) = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            )),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 422, description = "A date in the future, or a bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/reports/progress/export")]
pub async fn progress_export(
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<ProgressExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let unit = bounded("issuing_unit", query.issuing_unit.as_deref())?;
    let title = bounded("title", query.title.as_deref())?;
    let (as_of, table) = live_table(&state, query.as_of, query.fiscal_year).await?;
    render(
        &table,
        query.format.into(),
        &title.unwrap_or_else(|| default_title(as_of)),
        &unit.unwrap_or_else(|| DEFAULT_UNIT.to_string()),
        &format!("progress-{as_of}"),
    )
}

/// Publish the table as of a date as a frozen bulletin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotIn {
    pub as_of: NaiveDate,
    /// Default the year of `as_of`.
    pub fiscal_year: Option<i32>,
    #[schema(example = "云浮市2021年“双百工程”社工站（点）建设进度情况一览表")]
    pub title: String,
    /// 制表单位.
    #[schema(example = "云浮市民政局")]
    pub issuing_unit: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawIn {
    /// Why it is withdrawn; kept with it.
    pub reason: String,
}

/// A published snapshot, without its table (lists).
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotSummaryOut {
    pub id: i32,
    pub as_of: NaiveDate,
    pub fiscal_year: i32,
    pub title: String,
    pub issuing_unit: String,
    /// The version of the counting rules that computed it.
    pub rules_version: String,
    pub published_by: String,
    pub published_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawn_by: Option<String>,
    pub withdrawal_reason: Option<String>,
}

/// A published snapshot with its frozen table.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotOut {
    #[serde(flatten)]
    pub summary: SnapshotSummaryOut,
    pub table: ProgressTable,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotListQuery {
    /// Include withdrawn snapshots; default false.
    pub include_withdrawn: Option<bool>,
}

/// Read, not declared: `?format=` kept for callers written before the export operation.
#[derive(Debug, Deserialize)]
pub struct SnapshotFormatQuery {
    pub format: Option<ReportFormat>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotExportQuery {
    /// `csv` or `xlsx`.
    pub format: ExportFormat,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SnapshotPath {
    /// The snapshot's id.
    pub id: i32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Compare the live table from this date…
    pub from: Option<NaiveDate>,
    /// …to this one (default today).
    pub to: Option<NaiveDate>,
    /// Or compare two published snapshots.
    pub from_snapshot: Option<i32>,
    pub to_snapshot: Option<i32>,
    /// For live tables: whose funding requests; default the year of each date.
    pub fiscal_year: Option<i32>,
}

/// One end of a comparison.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeEnd {
    pub as_of: NaiveDate,
    /// The snapshot compared, when it is one.
    pub snapshot_id: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesOut {
    pub from: ChangeEnd,
    pub to: ChangeEnd,
    pub rows: Vec<CountyChanges>,
    pub totals: Vec<CountChange>,
}

fn summary_out(row: &SnapshotRow) -> SnapshotSummaryOut {
    SnapshotSummaryOut {
        id: row.id,
        as_of: row.as_of,
        fiscal_year: row.fiscal_year,
        title: row.title.clone(),
        issuing_unit: row.issuing_unit.clone(),
        rules_version: row.rules_version.clone(),
        published_by: row.published_by.clone(),
        published_at: utc(row.published_at),
        withdrawn_at: row.withdrawn_at.map(utc),
        withdrawn_by: row.withdrawn_by.clone(),
        withdrawal_reason: row.withdrawal_reason.clone(),
    }
}

fn frozen(row: &SnapshotRow) -> Result<ProgressTable, ApiError> {
    serde_json::from_str(&row.table_json)
        .map_err(|e| ApiError::internal(format!("snapshot {}: {e}", row.id)))
}

fn check_as_of(as_of: NaiveDate, today: NaiveDate, field: &str) -> Result<(), ApiError> {
    if as_of > today {
        return Err(ApiError::invalid(
            field,
            format!("{as_of} is in the future (today is {today})"),
        ));
    }
    Ok(())
}

#[utoipa::path(
    tag = "reports",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: the same key (1 to 255 visible ASCII characters, scoped to the caller and the path) with the same body replays the first response with `Idempotent-Replayed: true`; with another body it is 422; a retry racing the first waits for it, then replays its answer. Keys expire after 24 hours.")),
    request_body = SnapshotIn,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Published and frozen", body = SnapshotOut, headers(("Location" = String))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, response = Invalid),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/reports/progress/snapshots")]
pub async fn publish_snapshot(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    body: Json<SnapshotIn>,
) -> Result<HttpResponse, ApiError> {
    ctx.caller.require_admin()?;
    let input = body.0;
    let mut v = Violations::new();
    let title = v.check("title", parse_name(&input.title, 200));
    let unit = v.check("issuing_unit", parse_name(&input.issuing_unit, 100));
    let today = state.today();
    business_date(&mut v, "as_of", Some(input.as_of), today);
    let fiscal_year = input.fiscal_year.unwrap_or_else(|| input.as_of.year());
    if !(2000..=2100).contains(&fiscal_year) {
        v.add("fiscal_year", "must be between 2000 and 2100");
    }
    v.into_result()?;
    let (Some(title), Some(unit)) = (title, unit) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    write_then(
        &state.pool,
        ctx,
        move |tx| {
            let table = report::progress_table(tx.conn, input.as_of, fiscal_year)?;
            let json =
                serde_json::to_string(&table).map_err(|e| ApiError::internal(e.to_string()))?;
            let row = snapshots::insert(
                tx.conn,
                &NewSnapshot {
                    as_of: input.as_of,
                    fiscal_year,
                    title,
                    issuing_unit: unit,
                    rules_version: RULES_VERSION.into(),
                    table_json: json,
                    published_by: tx.ctx.caller.actor(),
                    published_at: now(),
                },
            )?;
            let summary = summary_out(&row);
            tx.audit(
                "publish",
                "progress_snapshot",
                row.id,
                None,
                NOTHING,
                Some(&summary),
            )?;
            Ok(SnapshotOut { summary, table })
        },
        move |out| {
            Ok(HttpResponse::Created()
                .insert_header((
                    header::LOCATION,
                    format!("/api/v1/reports/progress/snapshots/{}", out.summary.id),
                ))
                .json(out))
        },
    )
    .await
}

#[utoipa::path(
    tag = "reports",
    params(SnapshotListQuery, Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Published snapshots, newest first", body = Page<SnapshotSummaryOut>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/reports/progress/snapshots")]
pub async fn list_snapshots(
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<SnapshotListQuery>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let include = query.include_withdrawn.unwrap_or(false);
    let page = db::run(&state.pool, move |conn| {
        let (rows, total) = snapshots::list(conn, include, limit, offset)?;
        Ok(Page {
            items: rows.iter().map(summary_out).collect(),
            total,
            limit,
            offset,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "reports",
    params(SnapshotPath),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The snapshot with its frozen table (for the bureau's layout, see its export)", body = SnapshotOut),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such snapshot", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/reports/progress/snapshots/{id}")]
pub async fn get_snapshot(
    state: web::Data<AppState>,
    _caller: Caller,
    req: HttpRequest,
    path: web::Path<SnapshotPath>,
    query: web::Query<SnapshotFormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let row = db::run(&state.pool, move |conn| {
        snapshots::find(conn, id)?.ok_or_else(|| ApiError::not_found("snapshot", id))
    })
    .await?;
    let table = frozen(&row)?;
    match wanted(&req, query.format) {
        ReportFormat::Json => Ok(HttpResponse::Ok().json(SnapshotOut {
            summary: summary_out(&row),
            table,
        })),
        format => render(
            &table,
            format,
            &row.title,
            &row.issuing_unit,
            &format!("progress-{}-snapshot-{}", row.as_of, row.id),
        ),
    }
}

#[utoipa::path(
    tag = "reports",
    params(SnapshotPath, ("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry: the same key (1 to 255 visible ASCII characters, scoped to the caller and the path) with the same body replays the first response with `Idempotent-Replayed: true`; with another body it is 422; a retry racing the first waits for it, then replays its answer. Keys expire after 24 hours.")),
    request_body = WithdrawIn,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Withdrawn; it stays readable with its reason", body = SnapshotSummaryOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = NotAdmin),
        (status = 404, description = "No such snapshot", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already withdrawn", body = Problem, content_type = "application/problem+json"),
        (status = 413, response = TooLarge),
        (status = 415, response = NotJson),
        (status = 422, description = "No reason given", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[post("/reports/progress/snapshots/{id}/withdraw")]
pub async fn withdraw_snapshot(
    state: web::Data<AppState>,
    ctx: WriteCtx,
    path: web::Path<SnapshotPath>,
    body: Json<WithdrawIn>,
) -> Result<HttpResponse, ApiError> {
    ctx.caller.require_admin()?;
    let id = path.id;
    let reason = parse_name(&body.0.reason, 500).map_err(|m| ApiError::invalid("reason", m))?;
    write_then(
        &state.pool,
        ctx,
        move |tx| {
            let before =
                snapshots::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("snapshot", id))?;
            if !snapshots::withdraw(tx.conn, id, &tx.ctx.caller.actor(), &reason, now())? {
                return Err(ApiError::Conflict(format!(
                    "snapshot {id} is already withdrawn"
                )));
            }
            let row =
                snapshots::find(tx.conn, id)?.ok_or_else(|| ApiError::not_found("snapshot", id))?;
            let after = summary_out(&row);
            tx.audit(
                "withdraw",
                "progress_snapshot",
                id,
                None,
                Some(&summary_out(&before)),
                Some(&after),
            )?;
            Ok(after)
        },
        move |out| Ok(HttpResponse::Ok().json(out)),
    )
    .await
}

#[utoipa::path(
    tag = "reports",
    params(ChangesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Per county, each count at both ends and the difference, with stage changes", body = ChangesOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such snapshot", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither two dates nor two snapshots, or a date in the future", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/reports/progress/changes")]
pub async fn progress_changes(
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    let today = state.today();
    let q = query.into_inner();
    let snapshot_mode = q.from_snapshot.is_some() || q.to_snapshot.is_some();
    if snapshot_mode && (q.from.is_some() || q.to.is_some()) {
        return Err(ApiError::invalid(
            "from",
            "compare either two dates (from, to) or two snapshots (from_snapshot, to_snapshot)",
        ));
    }
    let (from, to) = if snapshot_mode {
        let (Some(a), Some(b)) = (q.from_snapshot, q.to_snapshot) else {
            return Err(ApiError::invalid(
                "to_snapshot",
                "give both from_snapshot and to_snapshot",
            ));
        };
        db::run(&state.pool, move |conn| {
            let load = |conn: &mut db::DbConnection, id: i32| {
                snapshots::find(conn, id)?.ok_or_else(|| ApiError::not_found("snapshot", id))
            };
            let (ra, rb) = (load(conn, a)?, load(conn, b)?);
            Ok(((frozen(&ra)?, Some(ra.id)), (frozen(&rb)?, Some(rb.id))))
        })
        .await?
    } else {
        let from = q
            .from
            .ok_or_else(|| ApiError::invalid("from", "is required (or compare two snapshots)"))?;
        let to = q.to.unwrap_or(today);
        check_as_of(from, today, "from")?;
        check_as_of(to, today, "to")?;
        if from > to {
            return Err(ApiError::invalid("from", "must be on or before to"));
        }
        let fy = q.fiscal_year;
        db::run(&state.pool, move |conn| {
            let a = report::progress_table(conn, from, fy.unwrap_or_else(|| from.year()))?;
            let b = report::progress_table(conn, to, fy.unwrap_or_else(|| to.year()))?;
            Ok(((a, None), (b, None)))
        })
        .await?
    };
    let (rows, totals) = compare(&from.0, &to.0);
    Ok(HttpResponse::Ok().json(ChangesOut {
        from: ChangeEnd {
            as_of: from.0.as_of,
            snapshot_id: from.1,
        },
        to: ChangeEnd {
            as_of: to.0.as_of,
            snapshot_id: to.1,
        },
        rows,
        totals,
    }))
}

/// A snapshot in the bureau's layout, as a file to download.
#[utoipa::path(
    tag = "reports",
    params(SnapshotPath, SnapshotExportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The frozen table in the seed's layout; `Content-Disposition` names the file after its title and date",
            headers(("Content-Disposition" = String)),
            content(
                (inline(ExportFile) = "text/csv"),
                (inline(ExportFile) = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            )),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 404, description = "No such snapshot", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = InvalidQuery),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/reports/progress/snapshots/{id}/export")]
pub async fn export_snapshot(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<SnapshotPath>,
    query: web::Query<SnapshotExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let row = db::run(&state.pool, move |conn| {
        snapshots::find(conn, id)?.ok_or_else(|| ApiError::not_found("snapshot", id))
    })
    .await?;
    render(
        &frozen(&row)?,
        query.format.into(),
        &row.title,
        &row.issuing_unit,
        &format!("progress-{}-snapshot-{}", row.as_of, row.id),
    )
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(progress_report)
        .service(progress_export)
        .service(export_snapshot)
        .service(progress_changes)
        .service(publish_snapshot)
        .service(list_snapshots)
        .service(get_snapshot)
        .service(withdraw_snapshot);
}
