//! The one write path: every create, update and delete runs through [`write`], which opens the
//! transaction and knows who asked and under which request id. The audit trail and idempotency
//! keys attach here, once, rather than route by route.

use std::future::{ready, Ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::db::{self, DbConnection, DbPool};
use crate::error::ApiError;
use crate::middleware::RequestId;

/// Who is writing and in which request.
#[derive(Debug, Clone)]
pub struct WriteCtx {
    pub request_id: String,
}

impl FromRequest for WriteCtx {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        ready(Ok(WriteCtx { request_id }))
    }
}

/// A write in progress: the connection inside the transaction, and its context.
pub struct Tx<'a> {
    pub conn: &'a mut DbConnection,
    pub ctx: &'a WriteCtx,
}

/// Runs `f` in one transaction off the async workers; any error rolls everything back.
pub async fn write<T, F>(pool: &DbPool, ctx: WriteCtx, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> Result<T, ApiError> + Send + 'static,
{
    db::run(pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let mut tx = Tx { conn, ctx: &ctx };
            f(&mut tx)
        })
    })
    .await
}
