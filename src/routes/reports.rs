//! `/api/v1/reports/progress`: the progress table (进度情况一览表) as of any date, computed from
//! the records, as JSON or in the bureau's layout (CSV).

use std::hash::{Hash, Hasher};

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::db::snapshots::SnapshotFilter;
use crate::domain::export::{issuing_unit, layout, standard_title, to_csv, to_xlsx};
use crate::domain::report::{ProgressTable, RowsBy, TableLevel};
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::common::{attachment, ExportFile, ExportFormat, Tagged, XLSX};
use crate::routes::common::{Json, Page, Paging};
use crate::routes::responses::*;
use crate::service::bulletins::{SnapshotOut, SnapshotSummaryOut};
use crate::service::reports::{self, ChangesOut, Comparison, SnapshotIn, TableQuery, WithdrawIn};
use crate::state::AppState;
use crate::write::{write_then, AdminWrite};

impl From<ExportFormat> for ReportFormat {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Csv => ReportFormat::Csv,
            ExportFormat::Xlsx => ReportFormat::Xlsx,
        }
    }
}

/// What a table is answered as. The JSON operations still honour `?format=csv|xlsx` and
/// `Accept: text/csv` for callers written before the export operations, without declaring it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Json,
    Csv,
    Xlsx,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgressQuery {
    /// The city whose table it is (a row per county). Without `city_id` or `province_id`, the
    /// deployment's table at its highest level with more than one member: one city's, one
    /// province's, or the nation's.
    pub city_id: Option<i32>,
    /// The province whose table it is (a row per city, then the province level).
    pub province_id: Option<i32>,
    /// What each row stands for: `county` (grouped by city, each group followed by its city's
    /// row), `city` (the default of a province's table) or `province` (the nation's default).
    pub by: Option<RowsBy>,
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
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
    pub by: Option<RowsBy>,
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
    /// The city whose table it is; see the table's parameters.
    pub city_id: Option<i32>,
    /// The province whose table it is.
    pub province_id: Option<i32>,
    /// What each row stands for: `county`, `city` or `province`.
    pub by: Option<RowsBy>,
    /// The date the table is computed as of; default today in the bureau's time zone.
    pub as_of: Option<NaiveDate>,
    /// Whose funding requests are shown; default the year of `as_of`.
    #[param(minimum = 2000, maximum = 2100)]
    pub fiscal_year: Option<i32>,
    /// 制表单位, the issuing unit printed above the table; default the level's department
    /// (云浮市民政局, 广东省民政厅).
    pub issuing_unit: Option<String>,
    /// The title row; default the level's standard title for the year.
    pub title: Option<String>,
}

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
        .insert_header((
            header::CONTENT_DISPOSITION,
            attachment(
                &format!("{name}.{ext}"),
                &format!("{title}-{}.{ext}", name.trim_start_matches("progress-")),
            ),
        ))
        .body(body))
}

/// The live table asked for, as JSON or a download titled `title` (default the level's
/// standard title) for `unit` (default its department): what both table operations answer.
async fn live(
    state: &AppState,
    query: TableQuery,
    title: Option<&str>,
    unit: Option<&str>,
    format: ReportFormat,
) -> Result<HttpResponse, ApiError> {
    let unit = bounded("issuing_unit", unit)?;
    let title = bounded("title", title)?;
    let today = state.today();
    let keeper = state.keeper.clone();
    let live = db::run(&state.pool, move |conn| {
        reports::live_table(conn, query, today, &keeper)
    })
    .await?;
    let (table, name) = (live.table, live.name.unwrap_or_default());
    let as_of = table.as_of;
    render(
        &table,
        format,
        &title.unwrap_or_else(|| standard_title(&name, as_of)),
        &unit.unwrap_or_else(|| issuing_unit(table.level, &name)),
        &format!("progress-{as_of}"),
    )
}

/// A snapshot as a download, under its own title and issuing unit.
fn render_snapshot(out: &SnapshotOut, format: ReportFormat) -> Result<HttpResponse, ApiError> {
    let s = &out.summary;
    render(
        &out.table,
        format,
        &s.title,
        &s.issuing_unit,
        &format!("progress-{}-snapshot-{}", s.as_of, s.id),
    )
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

#[utoipa::path(
    tag = "reports",
    params(ProgressQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The table: a city's a row per county, its city level last; a province's a row per city, then its level; the nation's a row per province; and the totals (for the bureau's layout, see the export)", body = ProgressTable),
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
    let q = query.into_inner();
    let format = wanted(&req, q.format);
    let table = TableQuery {
        city_id: q.city_id,
        province_id: q.province_id,
        by: q.by,
        as_of: q.as_of,
        fiscal_year: q.fiscal_year,
    };
    let (title, unit) = (q.title.as_deref(), q.issuing_unit.as_deref());
    live(&state, table, title, unit, format).await
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
    let q = query.into_inner();
    let table = TableQuery {
        city_id: q.city_id,
        province_id: q.province_id,
        by: q.by,
        as_of: q.as_of,
        fiscal_year: q.fiscal_year,
    };
    let (title, unit) = (q.title.as_deref(), q.issuing_unit.as_deref());
    live(&state, table, title, unit, q.format.into()).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotListQuery {
    /// Only this city's bulletins.
    pub city_id: Option<i32>,
    /// Only this province's bulletins (its own table's, not its cities').
    pub province_id: Option<i32>,
    /// Only bulletins of this level: `city`, `province` or `nation`.
    pub level: Option<TableLevel>,
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
    /// The city whose live tables are compared; without it or `province_id`, the deployment's
    /// table (see the table).
    pub city_id: Option<i32>,
    /// The province whose live tables are compared.
    pub province_id: Option<i32>,
    /// What each row stands for: `county`, `city` or `province`.
    pub by: Option<RowsBy>,
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

#[utoipa::path(
    tag = "reports",
    params(IdempotencyKey),
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
    AdminWrite(ctx): AdminWrite,
    body: Json<SnapshotIn>,
) -> Result<HttpResponse, ApiError> {
    let input = body.0;
    let today = state.today();
    write_then(
        &state.pool,
        ctx,
        move |tx| reports::publish(tx, input, today),
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
/// The list's ETag: a snapshot changes only when withdrawn.
impl Tagged for SnapshotSummaryOut {
    fn tag<H: Hasher>(&self, into: &mut H) {
        (self.id, self.withdrawn_at, &self.withdrawn_by).hash(into);
    }
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
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: Caller,
    query: web::Query<SnapshotListQuery>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = paging.resolve()?;
    let filter = SnapshotFilter {
        city_id: query.city_id,
        province_id: query.province_id,
        level: query.level,
        include_withdrawn: query.include_withdrawn.unwrap_or(false),
    };
    let listed = db::run(&state.pool, move |conn| {
        reports::list(conn, filter, limit, offset)
    })
    .await?;
    Page::of(listed, limit, offset).respond(&req)
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
    let out = db::run(&state.pool, move |conn| reports::get(conn, id)).await?;
    match wanted(&req, query.format) {
        ReportFormat::Json => Ok(HttpResponse::Ok().json(out)),
        format => render_snapshot(&out, format),
    }
}

#[utoipa::path(
    tag = "reports",
    params(SnapshotPath, IdempotencyKey),
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
    AdminWrite(ctx): AdminWrite,
    path: web::Path<SnapshotPath>,
    body: Json<WithdrawIn>,
) -> Result<HttpResponse, ApiError> {
    let id = path.id;
    let input = body.0;
    write_then(
        &state.pool,
        ctx,
        move |tx| reports::withdraw(tx, id, input),
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
    let comparison = if snapshot_mode {
        let (Some(from), Some(to)) = (q.from_snapshot, q.to_snapshot) else {
            return Err(ApiError::invalid(
                "to_snapshot",
                "give both from_snapshot and to_snapshot",
            ));
        };
        Comparison::Snapshots { from, to }
    } else {
        let from = q
            .from
            .ok_or_else(|| ApiError::invalid("from", "is required (or compare two snapshots)"))?;
        Comparison::Dates {
            city_id: q.city_id,
            province_id: q.province_id,
            by: q.by,
            from,
            to: q.to,
            fiscal_year: q.fiscal_year,
        }
    };
    let keeper = state.keeper.clone();
    let out = db::run(&state.pool, move |conn| {
        reports::changes(conn, comparison, today, &keeper)
    })
    .await?;
    Ok(HttpResponse::Ok().json(out))
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
    let out = db::run(&state.pool, move |conn| reports::get(conn, id)).await?;
    render_snapshot(&out, query.format.into())
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
