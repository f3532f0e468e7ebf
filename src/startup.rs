//! Builds the application on a listener it is given, so tests can bind port 0.

use std::net::TcpListener;

use actix_cors::Cors;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Compress, Condition, Logger};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use utoipa::openapi::security::{
    ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::{scope, AppExt, UtoipaApp};
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::ApiError;
use crate::idempotency::idempotency;
use crate::metrics::{self, Metrics};
use crate::middleware::{
    conditional_get, problems_everywhere, refuse_nul_in_query, request_id, security_headers,
};
use crate::routes;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Shuangbai",
        description = "Progress of the Double Hundred Project (双百工程): counties, towns, social-work stations and points, staff, trainings, funding, and the bureau's progress table as of any date.\n\nInput rules common to every operation: a body that is not JSON at all is 400; any other misfit (a wrong type, a null or unknown word for an enumeration, an array where an object belongs, a missing or unknown field, a NUL character in any text or query parameter) is 422 with `errors[].field` naming it. Every business date (`effective_on`, `held_on`, `from`, `to`, `…_on`) runs from 2000-01-01 to today in the bureau's time zone. A method a path does not offer is 405 with `Allow`. Every error is `application/problem+json` (RFC 6749 JSON at the token endpoint).",
        license(name = "MIT")
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Tokens (OAuth2 style) and the caller"),
        (name = "users", description = "People who use the API (administrators only)"),
        (name = "clients", description = "Integration clients of county scripts (administrators only)"),
        (name = "provinces", description = "Provinces (省), each with its own level (省本级)"),
        (name = "cities", description = "Cities (地级市), each with its city level (市本级), or one row when it has no counties"),
        (name = "counties", description = "Counties (县/市/区) and the levels of cities and provinces (市本级, 省本级)"),
        (name = "towns", description = "Towns, townships and streets (镇/乡/街道)"),
        (name = "stations", description = "Social-work stations (社工站) and points (社工点), with equipment checks"),
        (name = "staff", description = "Social workers, their postings, and the counts in post; personal data masked"),
        (name = "funding", description = "Funding requests (落实经费情况) and their stage changes; money in integer fen (分)"),
        (name = "trainings", description = "Training sessions (社工业务培训): pre-job (岗前) and professional (专业)"),
        (name = "updates", description = "County batches: one county's script upserts towns, sites, staff and trainings by its own keys, all or nothing (at most 10000 items and 16 MiB per batch)"),
        (name = "reports", description = "The progress table (进度情况一览表) as of any date"),
        (name = "rounds", description = "Reporting rounds (报送轮次): a city or a province asks its members to sign off their rows by a deadline, reviews them, chases the late ones and publishes the bulletin from the accepted rows"),
        (name = "audit", description = "Who changed what, when, before and after (administrators only)"),
        (name = "changes", description = "The change feed: every audited change in commit order, resumable from a cursor, for clients that mirror what the service holds"),
        (name = "webhooks", description = "Subscriptions that push the change feed's events to a county's or a province's own system, signed as Standard Webhooks 1.0 (`webhook-id`, `webhook-timestamp`, `webhook-signature`), at least once, in order per subscription. Each message's body is a `WebhookEvent` (or, from `POST /webhooks/{id}/test`, a `WebhookTestEvent`)"),
        (name = "operations", description = "Health and readiness"),
    ),
    components(
        schemas(
            crate::error::Problem,
            crate::routes::common::ExportFormat,
            crate::service::webhooks::WebhookEvent,
            crate::service::webhooks::WebhookTestEvent,
        ),
        responses(
            crate::routes::responses::BadRequest,
            crate::routes::responses::Unauthenticated,
            crate::routes::responses::Forbidden,
            crate::routes::responses::NotAdmin,
            crate::routes::responses::Stale,
            crate::routes::responses::TooLarge,
            crate::routes::responses::NotJson,
            crate::routes::responses::Invalid,
            crate::routes::responses::InvalidQuery,
            crate::routes::responses::IfMatchMissing,
            crate::routes::responses::DatabaseUnavailable,
        )
    )
)]
struct ApiDoc;

/// The bearer scheme, and the OAuth2 flows with their token URL.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from POST /api/v1/auth/token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::new([
                Flow::Password(Password::new("/api/v1/auth/token", Scopes::new())),
                Flow::ClientCredentials(ClientCredentials::new(
                    "/api/v1/auth/token",
                    Scopes::new(),
                )),
            ])),
        );
    }
}

/// Registers every route, collecting the OpenAPI document from their annotations.
fn mount<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    app.openapi(ApiDoc::openapi())
        .configure(routes::operations)
        .service(
            scope::scope("/api/v1")
                .service(routes::auth::issue_token)
                .configure(routes::api_v1),
        )
}

/// The OpenAPI document, generated from the code (served at `/openapi.json`, committed under
/// `openapi/`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    document().clone()
}

/// The document, generated once per process and shared: the workers, `/openapi.json`, the `405`
/// and query-string checks and the body checks read this one copy rather than each its own.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, api) = mount(App::new().into_utoipa_app()).split_for_parts();
        finish(api)
    })
}

/// `/openapi.json`: the document as compact JSON, written once.
async fn served_document() -> HttpResponse {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let json = JSON.get_or_init(|| serde_json::to_string(document()).unwrap_or_default());
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(json.as_str())
}

/// What utoipa cannot say by itself: a page's items refer to the item's own schema
/// (`Page_SiteOut.items` is an array of `SiteOut`), so generated clients have one type per
/// resource instead of a second inlined copy per list.
fn finish(api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let Ok(mut doc) = serde_json::to_value(&api) else {
        return api;
    };
    if let Some(serde_json::Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        let pages: Vec<String> = schemas
            .keys()
            .filter(|k| k.starts_with("Page_"))
            .cloned()
            .collect();
        for page in pages {
            let item = page.trim_start_matches("Page_").to_string();
            let Some(items) = schemas
                .get_mut(&page)
                .and_then(|p| p.pointer_mut("/properties/items/items"))
            else {
                continue;
            };
            if items.get("$ref").is_some() {
                continue;
            }
            let inline = std::mem::replace(
                items,
                serde_json::json!({"$ref": format!("#/components/schemas/{item}")}),
            );
            schemas.entry(item).or_insert(inline);
        }
    }
    serde_json::from_value(doc).unwrap_or(api)
}

/// The spec as committed: pretty JSON with a final newline.
pub fn openapi_json() -> String {
    let mut json = openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

/// A pool for `settings`, after the database has been prepared and migrated.
pub fn prepare_pool(settings: &Settings) -> Result<DbPool, String> {
    db::prepare(&settings.database_url, &settings.db_schema)?;
    Ok(db::build_pool(
        &settings.database_url,
        &settings.db_schema,
        settings.pool_size,
        settings.pool_timeout,
    ))
}

fn bad_query(err: impl std::fmt::Display) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid query string: {err}")).into()
}

fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allow_any_method()
        .allow_any_header()
        .expose_headers([
            "etag",
            "location",
            "x-request-id",
            "retry-after",
            "idempotent-replayed",
        ])
        .max_age(3600);
    for origin in &settings.cors_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// The application: every route, its configuration and middleware. Used by the server and by
/// `shuangbai demo`, which loads the seed through the same API in-process (without the access
/// log: it prints its own progress instead of a line per internal request).
pub fn build_app(
    state: AppState,
    metrics: web::Data<Metrics>,
    access_log: bool,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let settings = state.settings.clone();
    // Each worker mounts the routes; the document they describe is the process's one copy.
    let app = mount(App::new().into_utoipa_app()).into_app();
    app.app_data(web::Data::new(state))
        .app_data(metrics)
        .app_data(web::PayloadConfig::new(settings.body_limit))
        .app_data(web::QueryConfig::default().error_handler(|e, _| bad_query(e)))
        .app_data(web::PathConfig::default().error_handler(|e, req| {
            // `DELETE /staff/counts` reaches `/staff/{id}`'s handler; the spec's literal path
            // offers no DELETE, so it is a 405, not a malformed id.
            match allowed_methods(req.path()) {
                Some(allow) if !allow.split(", ").any(|m| m == req.method().as_str()) => {
                    ApiError::MethodNotAllowed {
                        method: req.method().to_string(),
                        allow,
                    }
                    .into()
                }
                _ => ApiError::BadRequest(format!("invalid path: {e}")).into(),
            }
        }))
        // `/docs` as the README writes it; the page itself lives under `/docs/`.
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header((actix_web::http::header::LOCATION, "/docs/"))
                    .finish()
            }),
        )
        .route("/openapi.json", web::get().to(served_document))
        .service(
            SwaggerUi::new("/docs/{_:.*}")
                // Offline, swagger.io's validator is unreachable: no broken badge.
                .config(utoipa_swagger_ui::Config::from("/openapi.json").validator_url("none")),
        )
        .default_service(web::to(not_found))
        // Innermost first: stored idempotent responses and ETags see the plain body, which is
        // then compressed.
        .wrap(from_fn(idempotency))
        .wrap(from_fn(refuse_nul_in_query))
        .wrap(from_fn(conditional_get))
        .wrap(cors(&settings))
        .wrap(from_fn(problems_everywhere))
        .wrap(Compress::default())
        .wrap(from_fn(metrics::record))
        .wrap(from_fn(request_id))
        .wrap(from_fn(security_headers))
        // The access log: never headers such as Authorization, never bodies.
        .wrap(Condition::new(
            access_log,
            Logger::new(r#"%a "%r" %s %b %Dms request_id=%{x-request-id}o"#),
        ))
}

/// Serves the API on `listener` until stopped (SIGTERM and Ctrl-C stop it gracefully).
pub fn run(listener: TcpListener, pool: DbPool, settings: Settings) -> std::io::Result<Server> {
    crate::service::deliverer::start(pool.clone(), settings.webhooks.clone());
    let state = AppState::new(pool, settings).map_err(std::io::Error::other)?;
    let metrics = web::Data::new(Metrics::default());
    let server = HttpServer::new(move || build_app(state.clone(), metrics.clone(), true))
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
    Ok(server)
}

/// No route answers: `405` with `Allow` when the spec offers the path with other methods,
/// else `404`.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    match allowed_methods(req.path()) {
        Some(allow) => Err(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allow,
        }),
        None => Err(ApiError::NotFound(format!(
            "no route for {} {}",
            req.method(),
            req.path()
        ))),
    }
}

/// One path of the spec: its segments (`{id}` matching any), and per method its query
/// parameters.
struct SpecPath {
    segments: Vec<String>,
    methods: Vec<(String, Vec<String>)>,
}

/// The spec's paths, read once: what `405` and the query-string checks derive from.
fn spec_paths() -> &'static [SpecPath] {
    static PATHS: std::sync::OnceLock<Vec<SpecPath>> = std::sync::OnceLock::new();
    PATHS.get_or_init(|| {
        let doc = serde_json::to_value(document()).unwrap_or_default();
        let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else {
            return Vec::new();
        };
        paths
            .iter()
            .map(|(template, item)| SpecPath {
                segments: template
                    .trim_matches('/')
                    .split('/')
                    .map(str::to_string)
                    .collect(),
                methods: item
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(method, op)| {
                        let query = op
                            .get("parameters")
                            .and_then(|p| p.as_array())
                            .into_iter()
                            .flatten()
                            .filter(|p| p.get("in").and_then(|i| i.as_str()) == Some("query"))
                            .filter_map(|p| p.get("name").and_then(|n| n.as_str()))
                            .map(str::to_string)
                            .collect();
                        (method.to_uppercase(), query)
                    })
                    .collect(),
            })
            .collect()
    })
}

/// The spec's path matching a concrete one (`/api/v1/counties/7` matches
/// `/api/v1/counties/{id}`); a literal path wins over a template (`/staff/counts` over
/// `/staff/{id}`), as in OpenAPI.
fn spec_path(path: &str) -> Option<&'static SpecPath> {
    let wanted: Vec<&str> = path.trim_matches('/').split('/').collect();
    spec_paths()
        .iter()
        .filter(|p| {
            p.segments.len() == wanted.len()
                && p.segments
                    .iter()
                    .zip(&wanted)
                    .all(|(s, w)| (s.starts_with('{') && !w.is_empty()) || s == w)
        })
        .min_by_key(|p| p.segments.iter().filter(|s| s.starts_with('{')).count())
}

/// The methods the spec offers for a concrete path, as an `Allow` header value; `None` for a
/// path it does not have.
pub fn allowed_methods(path: &str) -> Option<String> {
    spec_path(path).map(|p| {
        p.methods
            .iter()
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The query parameters the spec declares for a request; none for one it does not know.
pub fn declared_query(method: &str, path: &str) -> &'static [String] {
    spec_path(path)
        .and_then(|p| p.methods.iter().find(|(m, _)| m == method))
        .map(|(_, q)| q.as_slice())
        .unwrap_or(&[])
}
