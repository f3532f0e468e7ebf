//! `/api/v1/reports/progress`: the progress table (进度情况一览表) as of any date, computed from
//! the records, as JSON or in the bureau's layout (CSV).

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db::{self, report};
use crate::domain::export::{layout, to_csv};
use crate::domain::report::ProgressTable;
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    Json,
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgressQuery {
    /// The date the table is computed as of; default today in the bureau's time zone.
    pub as_of: Option<NaiveDate>,
    /// Whose funding requests are shown; default the year of `as_of`.
    #[param(minimum = 2000, maximum = 2100)]
    pub fiscal_year: Option<i32>,
    /// `json` (default) or `csv` (the seed's layout, UTF-8 with BOM); `Accept: text/csv` also gives CSV.
    pub format: Option<ReportFormat>,
    /// For the CSV: 制表单位, the issuing unit printed above the table.
    pub issuing_unit: Option<String>,
    /// For the CSV: the title row.
    pub title: Option<String>,
}

/// Whether the client asked for CSV, by `?format=` or `Accept`.
pub fn wants_csv(req: &HttpRequest, format: Option<ReportFormat>) -> bool {
    match format {
        Some(f) => f == ReportFormat::Csv,
        None => req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
    }
}

/// The table as a CSV download in the seed's layout.
pub fn csv_response(table: &ProgressTable, title: &str, issuing_unit: &str) -> HttpResponse {
    let body = to_csv(&layout(table, title, issuing_unit));
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"progress-{}.csv\"", table.as_of),
        ))
        .body(body)
}

pub fn default_title(as_of: NaiveDate) -> String {
    format!("{}年“双百工程”社工站（点）建设进度情况一览表", as_of.year())
}

fn bounded(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > 100 => {
            Err(ApiError::invalid(field, "must be at most 100 characters"))
        }
        Some(v) => Ok(Some(v.to_string())),
    }
}

#[utoipa::path(
    tag = "reports",
    params(ProgressQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The table: a row per county, the city level last, and the totals",
            content(
                (ProgressTable = "application/json"),
                (String = "text/csv", example = "\u{feff}2021年“双百工程”社工站（点）建设进度情况一览表,…")
            )),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad access token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A date in the future, or a bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/progress")]
pub async fn progress_report(
    state: web::Data<AppState>,
    _caller: Caller,
    req: HttpRequest,
    query: web::Query<ProgressQuery>,
) -> Result<HttpResponse, ApiError> {
    let today = state.today();
    let as_of = query.as_of.unwrap_or(today);
    if as_of > today {
        return Err(ApiError::invalid(
            "as_of",
            format!("{as_of} is in the future (today is {today}); the table counts facts that have happened"),
        ));
    }
    let fiscal_year = query.fiscal_year.unwrap_or_else(|| as_of.year());
    if !(2000..=2100).contains(&fiscal_year) {
        return Err(ApiError::invalid(
            "fiscal_year",
            "must be between 2000 and 2100",
        ));
    }
    let unit = bounded("issuing_unit", query.issuing_unit.as_deref())?;
    let title = bounded("title", query.title.as_deref())?;
    let table = db::run(&state.pool, move |conn| {
        report::progress_table(conn, as_of, fiscal_year)
    })
    .await?;
    if wants_csv(&req, query.format) {
        return Ok(csv_response(
            &table,
            &title.unwrap_or_else(|| default_title(as_of)),
            &unit.unwrap_or_else(|| "市民政局".to_string()),
        ));
    }
    Ok(HttpResponse::Ok().json(table))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(progress_report);
}
