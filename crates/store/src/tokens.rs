//! API tokens: created with a random secret shown once, stored as the
//! secret's SHA-256, looked up by that hash, revocable; creation and
//! revocation are audited with the token's id, never its secret.
//!
//! Why SHA-256 and not a slow KDF (argon2, bcrypt): those exist to make
//! guessing a *low-entropy* password from its stored hash expensive. A
//! token secret is 256 bits from the OS's random source, so a stolen hash
//! cannot be brute-forced whatever the hash costs, and a fast hash keeps
//! authentication to microseconds on every request. The lookup is by hash
//! (an index probe on the hash of what the caller sent), and the hash found
//! is compared in constant time again; what the index's timing could reveal
//! is about hashes, from which no secret can be derived.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::*;
use crate::types::{NewToken, TokenRecord, TokenRole};

/// Every token secret starts with this, so a leaked one is recognisable
/// (secret scanners, logs) and a bearer value of another kind is refused
/// without a database round trip.
pub const TOKEN_PREFIX: &str = "slc_";
const SECRET_BYTES: usize = 32;

fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `secret` has the shape of a token secret (prefix, then 43
/// base64url characters): anything else cannot be one.
fn well_formed(secret: &str) -> bool {
    secret.strip_prefix(TOKEN_PREFIX).is_some_and(|body| {
        URL_SAFE_NO_PAD
            .decode(body)
            .is_ok_and(|bytes| bytes.len() == SECRET_BYTES)
    })
}

fn new_secret() -> Result<String, OpError> {
    let mut bytes = [0u8; SECRET_BYTES];
    // no fallback: a token from a guessable source would be worse than none
    getrandom::fill(&mut bytes)
        .map_err(|e| OpError::Invalid(format!("no OS randomness for a token secret: {e}")))?;
    Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

const SELECT_TOKENS: &str =
    "SELECT id, role, created_at, created_by, revoked_at, revoked_by FROM api_tokens";

/// The tokens that were live when [`Store::active_tokens`] read them,
/// checked in memory: for a server that authenticates every request
/// without a database round trip, refreshing the set now and then to see
/// new and revoked tokens.
#[derive(Debug, Clone, Default)]
pub struct TokenSet {
    by_hash: HashMap<[u8; 32], TokenRecord>,
}

impl TokenSet {
    /// The live token whose secret is `secret`, if any.
    pub fn authenticate(&self, secret: &str) -> Option<&TokenRecord> {
        if !well_formed(secret) {
            return None;
        }
        let hash = secret_hash(secret);
        let (stored, record) = self.by_hash.get_key_value(&hash)?;
        bool::from(stored[..].ct_eq(&hash[..])).then_some(record)
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

impl Store {
    /// Creates a token with `role`, audited as `token.create` by `actor`.
    /// The returned secret is not stored anywhere: show it once.
    pub async fn create_token(&self, role: TokenRole, actor: &str) -> Result<NewToken, StoreError> {
        self.op("create_token", async {
            let secret = new_secret()?;
            let hash = hex::encode(secret_hash(&secret));
            let now = now_ms();
            let actor = text::clean_line(actor, 256);
            let record = with_write_tx!(&self.backend, tx, lock = Some(PG_AUDIT_LOCK) => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO api_tokens (role, secret_hash, created_at, created_by) \
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(role.as_str())
                .bind(&hash)
                .bind(now)
                .bind(&actor)
                .fetch_one(&mut *tx)
                .await?;
                let detail = canonical_json(&serde_json::json!({ "token": id, "role": role }));
                let subject = format!("token/{id}");
                append_audit!(tx, now, &actor, "token.create", &subject, &detail);
                TokenRecord {
                    id,
                    role,
                    created_at: now,
                    created_by: actor.clone(),
                    revoked_at: None,
                    revoked_by: None,
                }
            });
            tracing::info!(token = record.id, %role, "API token created");
            Ok(NewToken { record, secret })
        })
        .await
    }

    /// The live (not revoked) token whose secret is `secret`.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.op("authenticate", async {
            if !well_formed(secret) {
                return Ok(None);
            }
            let hash = secret_hash(secret);
            let sql = "SELECT id, role, created_at, created_by, revoked_at, revoked_by, secret_hash \
                       FROM api_tokens WHERE secret_hash = $1 AND revoked_at IS NULL";
            let row: Option<TokenRow> = with_pool!(&self.backend, pool =>
                sqlx::query_as(sql)
                    .bind(hex::encode(hash))
                    .fetch_optional(pool)
                    .await?);
            Ok(row.and_then(|row| {
                let stored = hex::decode(&row.secret_hash).unwrap_or_default();
                bool::from(stored.as_slice().ct_eq(&hash[..])).then_some(row.record)
            }))
        })
        .await
    }

    /// Revokes token `id`, audited as `token.revoke` by `actor`. Revoking a
    /// revoked token is an error naming when and by whom it was.
    pub async fn revoke_token(&self, id: i64, actor: &str) -> Result<TokenRecord, StoreError> {
        self.op("revoke_token", async {
            let now = now_ms();
            let actor = text::clean_line(actor, 256);
            let record = with_write_tx!(&self.backend, tx, lock = Some(PG_AUDIT_LOCK) => {
                let found: Option<TokenRecord> =
                    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_TOKENS} WHERE id = $1")))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(mut record) = found else {
                    return Err(OpError::NotFound { what: "token", key: id.to_string() });
                };
                if let Some(at) = record.revoked_at {
                    return Err(OpError::Invalid(format!(
                        "token {id} was already revoked at {at} (unix ms) by {}",
                        record.revoked_by.as_deref().unwrap_or("?")
                    )));
                }
                sqlx::query("UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3")
                    .bind(now)
                    .bind(&actor)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let detail = canonical_json(&serde_json::json!({ "token": id, "role": record.role }));
                let subject = format!("token/{id}");
                append_audit!(tx, now, &actor, "token.revoke", &subject, &detail);
                record.revoked_at = Some(now);
                record.revoked_by = Some(actor.clone());
                record
            });
            tracing::info!(token = id, "API token revoked");
            Ok(record)
        })
        .await
    }

    /// Every token, revoked ones included, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.op("tokens", async {
            Ok(with_pool!(&self.backend, pool =>
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_TOKENS} ORDER BY id")))
                    .fetch_all(pool)
                    .await?))
        })
        .await
    }

    /// The live tokens, for checking secrets in memory ([`TokenSet`]).
    pub async fn active_tokens(&self) -> Result<TokenSet, StoreError> {
        self.op("active_tokens", async {
            let sql = "SELECT id, role, created_at, created_by, revoked_at, revoked_by, secret_hash \
                       FROM api_tokens WHERE revoked_at IS NULL";
            let rows: Vec<TokenRow> = with_pool!(&self.backend, pool =>
                sqlx::query_as(sql).fetch_all(pool).await?);
            let mut by_hash = HashMap::with_capacity(rows.len());
            for row in rows {
                let hash: [u8; 32] = hex::decode(&row.secret_hash)
                    .ok()
                    .and_then(|bytes| bytes.try_into().ok())
                    .ok_or_else(|| {
                        OpError::Invalid(format!("token {} has a malformed stored hash", row.record.id))
                    })?;
                by_hash.insert(hash, row.record);
            }
            Ok(TokenSet { by_hash })
        })
        .await
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    #[sqlx(flatten)]
    record: TokenRecord,
    secret_hash: String,
}
