//! Credentials: password hashing (argon2id), secret hashing, and access tokens (JWT, HS256 only).
//!
//! Passwords are low-entropy, so they get argon2id. Refresh tokens and client secrets are 256-bit
//! random values: a SHA-256 of them is as safe to store and cheap to look up.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::{Condvar, Mutex, OnceLock};

use argon2::Argon2;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Secret;
use crate::domain::auth::Role;

pub const ISSUER: &str = "shuangbai";
pub const AUDIENCE: &str = "shuangbai-api";
/// The only algorithm accepted: a token naming another (or `none`) is refused.
const ALGORITHM: Algorithm = Algorithm::HS256;

pub fn hash_password(password: &str) -> Result<String, String> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let salt = SaltString::encode_b64(&bytes).map_err(|e| format!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing failed: {e}"))
}

/// How many password checks run at once: as many as the machine has cores. More would only
/// share the same cores (and 19 MiB each), starving every other request of CPU.
struct HashingSlots {
    busy: Mutex<usize>,
    freed: Condvar,
    limit: usize,
}

/// A slot held for one check, given back when dropped (a panic included).
struct Slot(&'static HashingSlots);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.0.busy.lock() {
            *busy -= 1;
        }
        self.0.freed.notify_one();
    }
}

/// Waits (in a blocking thread) for a free slot.
fn hashing_slot() -> Slot {
    static SLOTS: OnceLock<HashingSlots> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| HashingSlots {
        busy: Mutex::new(0),
        freed: Condvar::new(),
        limit: std::thread::available_parallelism().map_or(2, |n| n.get()),
    });
    let mut busy = slots.busy.lock().unwrap_or_else(|e| e.into_inner());
    while *busy >= slots.limit {
        busy = slots.freed.wait(busy).unwrap_or_else(|e| e.into_inner());
    }
    *busy += 1;
    Slot(slots)
}

/// A turn to check a password, taken before the blocking thread is: waiting logins (a storm of
/// them, say) then hold no thread of the pool the database calls share. At most one check per
/// core at once; `None` after `wait` without a turn.
pub async fn password_turn(
    wait: std::time::Duration,
) -> Option<tokio::sync::SemaphorePermit<'static>> {
    static TURNS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    let turns = TURNS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    actix_web::rt::time::timeout(wait, turns.acquire())
        .await
        .ok()?
        .ok()
}

/// Checks a password against a stored hash. With no hash (unknown user) it still does the work
/// of one check, so the answer takes as long whether or not the username exists. Blocks: call
/// it from a blocking thread, outside any transaction; at most one check per core runs at once.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let _slot = hashing_slot();
    let parsed = stored.and_then(|s| PasswordHash::new(s).ok());
    match parsed {
        Some(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        None => {
            let _ = hash_password(password);
            false
        }
    }
}

/// SHA-256 (hex) of a high-entropy secret, for storage and lookup.
pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// `user:<id>` or `client:<id>`.
    pub sub: String,
    pub role: Role,
    pub county_id: Option<i32>,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// The principal's auth version when issued: a password change or deactivation bumps it,
    /// and older tokens stop working within a second (`caller_cache.rs`).
    pub av: i32,
    /// A user's session (the family of its refresh tokens): revoking the session ends its
    /// access tokens within a second. Integration clients have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl_secs: i64,
}

impl Tokens {
    pub fn new(secret: &Secret, access_ttl_secs: i64) -> Result<Tokens, String> {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(Tokens {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes())
                .map_err(|e| format!("SHUANGBAI_JWT_SECRET: {e}"))?,
            decoding: DecodingKey::from_secret(secret.expose().as_bytes())
                .map_err(|e| format!("SHUANGBAI_JWT_SECRET: {e}"))?,
            validation,
            access_ttl_secs,
        })
    }

    pub fn issue(
        &self,
        sub: String,
        role: Role,
        county_id: Option<i32>,
        auth_version: i32,
        session: Option<String>,
    ) -> Result<String, String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub,
            role,
            county_id,
            iat: now,
            exp: now + self.access_ttl_secs,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: crate::domain::random_token(22),
            av: auth_version,
            sid: session,
        };
        jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &self.encoding)
            .map_err(|e| format!("signing failed: {e}"))
    }

    /// Verifies signature, algorithm, expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(&Secret::new("x".repeat(40)), 900).expect("keys")
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("wrong horse battery", Some(&hash)));
        assert!(!verify_password("anything", None));
    }

    #[test]
    fn issued_tokens_verify_and_carry_their_claims() {
        let t = tokens();
        let jwt = t
            .issue(
                "user:7".into(),
                Role::CountyOfficer,
                Some(3),
                2,
                Some("s1".into()),
            )
            .expect("issue");
        let claims = t.verify(&jwt).expect("valid");
        assert_eq!(claims.sid.as_deref(), Some("s1"));
        assert_eq!(claims.sub, "user:7");
        assert_eq!(claims.county_id, Some(3));
        assert_eq!(claims.av, 2);
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let other = Tokens::new(&Secret::new("y".repeat(40)), 900).expect("keys");
        let jwt = other
            .issue("user:1".into(), Role::Admin, None, 1, None)
            .expect("issue");
        assert!(tokens().verify(&jwt).is_err());
    }
}
