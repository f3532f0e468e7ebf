//! `/api/v1/changes`: the change feed, every audited change in commit order, from a cursor.

use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::db;
use crate::db::audit::{AccountEvents, FeedFilter};
use crate::domain::audit::{AuditEntity, ChangeType};
use crate::error::{ApiError, Problem};
use crate::policy::Caller;
use crate::routes::responses::*;
use crate::service::changes::{self, ChangeHeadOut, ChangePageOut};
use crate::state::AppState;

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeFeedQuery {
    /// Changes after this cursor (an item's `cursor`, a page's `next`, or `/changes/head`'s);
    /// from the oldest change kept when absent.
    pub after: Option<String>,
    /// Items per page: 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    pub entity: Option<AuditEntity>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub type_: Option<ChangeType>,
    pub county_id: Option<i32>,
    pub city_id: Option<i32>,
    pub province_id: Option<i32>,
}

#[utoipa::path(
    tag = "changes",
    params(ChangeFeedQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changes after the cursor, in commit order, and the cursor to ask with next. A client that follows `next` from the start never misses a committed change and never sees one twice; a rolled-back write appears nowhere. Events about users and integration clients are shown to the administrators who manage them only", body = ChangePageOut),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 410, description = "The cursor is older than the changes the feed keeps (SHUANGBAI_FEED_RETENTION_DAYS): re-read the lists, then follow from GET /api/v1/changes/head", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed cursor, or a bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/changes")]
pub async fn list_changes(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ChangeFeedQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let (type_entity, action) = match q.type_.map(ChangeType::parts) {
        Some((e, a)) => (Some(e), Some(a)),
        None => (None, None),
    };
    if let (Some(e), Some(t)) = (q.entity, type_entity) {
        if e != t {
            return Err(ApiError::invalid("type", format!("is not a change of {e}")));
        }
    }
    let filter = FeedFilter {
        entity: q.entity.or(type_entity),
        action,
        county_id: q.county_id,
        city_id: q.city_id,
        province_id: q.province_id,
        accounts: AccountEvents::None,
    };
    let retention = state.settings.feed_retention_days;
    let after = q.after;
    let out = db::run(&state.pool, move |conn| {
        changes::list(conn, &caller, after.as_deref(), filter, limit, retention)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(out))
}

#[utoipa::path(
    tag = "changes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cursor of the newest change the feed serves now: follow from it after reading the lists", body = ChangeHeadOut),
        (status = 401, response = Unauthenticated),
        (status = 503, response = DatabaseUnavailable),
    )
)]
#[get("/changes/head")]
pub async fn changes_head(
    state: web::Data<AppState>,
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let out = db::run(&state.pool, changes::head).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(out))
}

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(changes_head).service(list_changes);
}
