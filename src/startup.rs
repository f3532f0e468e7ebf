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
        (name = "counties", description = "Counties (县/市/区) and the city level (市本级)"),
        (name = "towns", description = "Towns, townships and streets (镇/乡/街道)"),
        (name = "stations", description = "Social-work stations (社工站) and points (社工点), with equipment checks"),
        (name = "staff", description = "Social workers, their postings, and the counts in post; personal data masked"),
        (name = "funding", description = "Funding requests (落实经费情况) and their stage changes; money in integer fen (分)"),
        (name = "trainings", description = "Training sessions (社工业务培训): pre-job (岗前) and professional (专业)"),
        (name = "updates", description = "County batches: one county's script upserts towns, sites, staff and trainings by its own keys, all or nothing (at most 10000 items and 16 MiB per batch)"),
        (name = "reports", description = "The progress table (进度情况一览表) as of any date"),
        (name = "audit", description = "Who changed what, when, before and after (administrators only)"),
        (name = "operations", description = "Health and readiness"),
    ),
    components(
        schemas(crate::error::Problem, crate::routes::reports::ReportFormat),
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
    let (_, api) = mount(App::new().into_utoipa_app()).split_for_parts();
    api
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
    let (app, api) = mount(App::new().into_utoipa_app()).split_for_parts();
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
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api))
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

/// The methods the spec offers for a concrete path (`/api/v1/counties/7` matches
/// `/api/v1/counties/{id}`), as an `Allow` header value; `None` for a path it does not have.
pub fn allowed_methods(path: &str) -> Option<String> {
    static PATHS: std::sync::OnceLock<Vec<(Vec<String>, String)>> = std::sync::OnceLock::new();
    let paths = PATHS.get_or_init(|| {
        openapi()
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let json = serde_json::to_value(item).unwrap_or_default();
                let methods: Vec<String> = [
                    "get", "put", "post", "delete", "options", "head", "patch", "trace",
                ]
                .iter()
                .filter(|m| json.get(**m).is_some())
                .map(|m| m.to_uppercase())
                .collect();
                let segments = template
                    .trim_matches('/')
                    .split('/')
                    .map(str::to_string)
                    .collect();
                (segments, methods.join(", "))
            })
            .collect()
    });
    let wanted: Vec<&str> = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/')
        .collect();
    // A literal path wins over a template (`/staff/counts` over `/staff/{id}`), as in OpenAPI.
    paths
        .iter()
        .filter(|(segments, _)| {
            segments.len() == wanted.len()
                && segments
                    .iter()
                    .zip(&wanted)
                    .all(|(s, w)| (s.starts_with('{') && !w.is_empty()) || s == w)
        })
        .min_by_key(|(segments, _)| segments.iter().filter(|s| s.starts_with('{')).count())
        .map(|(_, allow)| allow.clone())
}
