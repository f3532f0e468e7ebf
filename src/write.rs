//! The one write path: every create, update and delete runs through [`write`], which opens the
//! transaction and knows who asked and under which request id. The audit trail and idempotency
//! keys attach here, once, rather than route by route.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::db::{self, DbConnection, DbPool};
use crate::error::ApiError;
use crate::middleware::RequestId;
use crate::policy::Caller;

/// Who is writing and in which request. Extracting it authenticates the caller (401 without a
/// valid token); the handler then checks the caller's rights on what it touches.
#[derive(Debug, Clone)]
pub struct WriteCtx {
    pub request_id: String,
    pub caller: Caller,
}

impl FromRequest for WriteCtx {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            Ok(WriteCtx {
                request_id,
                caller: caller.await?,
            })
        })
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
