//! Request limits that both a route and the middleware in front of it must know: a county
//! batch's own item and body limits (the idempotency middleware reads a batch's body before the
//! route does).

/// The most items one batch may hold, nested equipment checks and postings included (413 past it).
pub const MAX_ITEMS: usize = 10_000;
/// The largest batch body in bytes, 16 MiB (413 past it); other routes keep the general limit.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Whether a path is a county batch's (the idempotency middleware reads its larger bodies).
pub fn is_batch_path(path: &str) -> bool {
    path.strip_prefix("/api/v1/counties/")
        .and_then(|rest| rest.strip_suffix("/updates"))
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}
