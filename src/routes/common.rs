//! What every resource shares: the JSON body extractor, list envelopes and paging, sorting,
//! and the version-based `ETag` / `If-Match` handshake.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::middleware::WeakTag;

/// A JSON request body. Unlike actix's own, its errors are problem+json: 415 for another content
/// type, 413 past the body limit, 400 for malformed JSON, 422 naming the field whose value does
/// not fit (a wrong type, an unknown enum word, a missing field).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let mime = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType(
                    "send the body as application/json".into(),
                ));
            }
            let bytes = bytes.await.map_err(|e| {
                if e.as_response_error().status_code() == 413 {
                    ApiError::PayloadTooLarge("the request body is larger than allowed".into())
                } else {
                    ApiError::BadRequest("could not read the request body".into())
                }
            })?;
            parse_json(&bytes).map(Json)
        })
    }
}

/// Parses a JSON body: 400 only for a body that is not JSON at all; everything else that does
/// not fit is 422 naming the field (a JSON pointer inside nested values): a wrong type, a null
/// or unknown word for an enumeration, a missing field, an array where the spec says object
/// (serde would take it by position), a NUL character in any text.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "malformed JSON at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    let mut broken = Vec::new();
    crate::routes::shape::check::<T>(&value, &mut broken);
    if !broken.is_empty() {
        return Err(ApiError::Validation(broken));
    }
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let message = e.inner().to_string();
        // A missing field is at fault itself, not the object that lacks it.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name.to_string());
        let pointer = match (json_pointer(e.path()), missing) {
            (at, Some(name)) if at == "/" => name,
            (at, Some(name)) if at.starts_with('/') => format!("{at}/{name}"),
            (at, Some(name)) => format!("/{at}/{name}"),
            (at, None) => at,
        };
        ApiError::invalid(pointer, message)
    })
}

fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        out.push('/');
        match segment {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } => out.push_str(&key.replace('~', "~0").replace('/', "~1")),
            Segment::Enum { variant } => out.push_str(variant),
            Segment::Unknown => out.push('?'),
        }
    }
    if out.is_empty() {
        "/".into()
    } else {
        // Top-level fields are named plainly (`name`), nested ones as pointers (`/items/0/name`).
        match out[1..].contains('/') {
            true => out,
            false => out[1..].to_string(),
        }
    }
}

use crate::service::Listed;

/// A page of a list: `{items, total, limit, offset}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// How many items match the filters, across all pages.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

impl<T> Page<T> {
    /// The page a service listed, with the paging it was asked for.
    pub fn of(listed: Listed<T>, limit: i64, offset: i64) -> Self {
        Page {
            items: listed.items,
            total: listed.total,
            limit,
            offset,
        }
    }
}

/// What a list item shows beyond its id and version (a site's check as of the date, a county's
/// plan status, whether personal data is masked for this caller, the actions this caller may
/// take), fed to its list's `ETag`: whatever can change the item's JSON must be in its tag.
pub trait Tagged {
    fn tag<H: Hasher>(&self, into: &mut H);
}

impl<T: Serialize + Tagged> Page<T> {
    /// The page as a `200` whose weak `ETag` comes from what decides its content (this build,
    /// the request's path and query, the total and paging, each item's [`Tagged::tag`]), not
    /// from hashing the body: revalidating a list costs its query, and `304` sends nothing.
    pub fn respond(self, req: &HttpRequest) -> Result<HttpResponse, ApiError> {
        let mut digest = WeakTag::default();
        (
            env!("CARGO_PKG_VERSION"),
            req.path(),
            req.query_string(),
            self.total,
            self.limit,
            self.offset,
            self.items.len(),
        )
            .hash(&mut digest);
        for item in &self.items {
            item.tag(&mut digest);
        }
        // Sized for the page at once: a 30 KB page grown by doubling is copied a dozen times.
        let mut body = Vec::with_capacity(1024 + 768 * self.items.len());
        serde_json::to_writer(&mut body, &self)
            .map_err(|e| ApiError::internal(format!("a list's body: {e}")))?;
        Ok(HttpResponse::Ok()
            .content_type(header::ContentType::json())
            .insert_header((header::ETAG, digest.etag()))
            .body(body))
    }
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// `?limit=` (default 50, at most 500) and `?offset=` (default 0).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Items per page: 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Items to skip, default 0.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

impl Paging {
    pub fn resolve(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::invalid("offset", "must not be negative"));
        }
        Ok((limit, offset))
    }
}

/// Parses `?sort=name,-created_at` against the fields a resource allows.
pub fn parse_sort<S: Copy>(
    raw: Option<&str>,
    allowed: &[(&str, S)],
) -> Result<Vec<(S, bool)>, ApiError> {
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for part in raw.unwrap_or("").split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let (name, descending) = match part.strip_prefix('-') {
            Some(n) => (n, true),
            None => (part.strip_prefix('+').unwrap_or(part), false),
        };
        if seen.contains(&name) {
            // Each field once: a sort repeating fields thousands of times would make a query
            // whose building alone takes seconds.
            return Err(ApiError::invalid(
                "sort",
                format!("sorts by {name:?} more than once"),
            ));
        }
        seen.push(name);
        match allowed.iter().find(|(n, _)| *n == name) {
            Some((_, field)) => out.push((*field, descending)),
            None => {
                let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
                return Err(ApiError::invalid(
                    "sort",
                    format!("cannot sort by {name:?}; use {}", names.join(", ")),
                ));
            }
        }
    }
    Ok(out)
}

/// A text search, `?q=`: trimmed, empty means none, bounded.
pub fn parse_q(q: Option<&str>) -> Result<Option<String>, ApiError> {
    match q.map(str::trim) {
        None | Some("") => Ok(None),
        Some(q) if q.chars().count() > 100 => {
            Err(ApiError::invalid("q", "must be at most 100 characters"))
        }
        Some(q) => Ok(Some(q.to_string())),
    }
}

/// The file an export gives: `csv` (UTF-8 with BOM, the bureau's layout) or `xlsx` (the same
/// grid as a workbook).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

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

/// An answer carrying a secret: `Cache-Control: no-store` (never cached, and never stored as an
/// `Idempotency-Key`'s answer).
pub fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    res
}

/// `attachment` with a plain ASCII name (`plain`) for any client and, per RFC 6266 / 5987, the
/// UTF-8 name (`full`: `2021年…一览表-2021-06-09.csv`) for those that read it.
pub fn attachment(plain: &str, full: &str) -> String {
    let encoded: String = full
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}")
}

/// The `ETag` of a versioned resource.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// The version a `PATCH` or `DELETE` expects, from `If-Match` (428 without it; a value that is
/// not one of our ETags can never match, so it is 412).
pub fn expected_version(req: &HttpRequest) -> Result<i32, ApiError> {
    let raw = req
        .headers()
        .get(header::IF_MATCH)
        .ok_or(ApiError::PreconditionRequired)?
        .to_str()
        .map_err(|_| ApiError::PreconditionFailed)?
        .trim();
    let raw = raw.strip_prefix("W/").unwrap_or(raw);
    raw.trim_matches('"')
        .parse::<i32>()
        .map_err(|_| ApiError::PreconditionFailed)
}

/// 200 with the resource and its `ETag`.
pub fn ok_versioned<T: Serialize>(body: &T, version: i32) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(version)))
        .json(body)
}

/// 201 with the resource, its `Location` and `ETag`.
pub fn created_versioned<T: Serialize>(body: &T, location: String, version: i32) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::ETAG, etag(version)))
        .json(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        items: Vec<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        n: i32,
    }

    #[test]
    fn a_wrong_value_names_its_field_as_a_pointer() {
        let err = parse_json::<Sample>(br#"{"name":"a","items":[{"n":1},{"n":"x"}]}"#)
            .expect_err("invalid");
        match err {
            ApiError::Validation(v) => assert_eq!(v[0].field, "/items/1/n"),
            other => panic!("unexpected {other:?}"),
        }
        let err = parse_json::<Sample>(br#"{"name":1,"items":[]}"#).expect_err("invalid");
        match err {
            ApiError::Validation(v) => assert_eq!(v[0].field, "name"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        assert!(matches!(
            parse_json::<Sample>(b"{\"name\":"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Sample>(br#"{"name":"a","items":[]} x"#),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn sort_accepts_known_fields_with_direction() {
        let allowed = [("name", 1), ("id", 2)];
        assert_eq!(
            parse_sort(Some("-name,id"), &allowed).expect("valid"),
            vec![(1, true), (2, false)]
        );
        assert!(parse_sort(Some("password"), &allowed).is_err());
    }

    #[test]
    fn paging_is_bounded() {
        let p = Paging {
            limit: Some(501),
            offset: None,
        };
        assert!(p.resolve().is_err());
        let p = Paging {
            limit: None,
            offset: None,
        };
        assert_eq!(p.resolve().expect("valid"), (50, 0));
    }
}
