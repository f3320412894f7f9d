//! Who may call: bearer tokens (`sluice token create --role ROLE`), checked
//! in memory on every request against the live tokens, which a task
//! re-reads from the store every `auth.refresh_ms` so creations and
//! revocations by other processes take effect without a restart.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use sluice_store::{Store, TokenRole, TokenSet};

use crate::config;

/// What a route needs from its caller's token. Roles are ranked: a token
/// may do what its role and every lower one may (`admin` > `review` >
/// `predict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Predict,
    Review,
    Admin,
}

impl Role {
    fn of(role: TokenRole) -> Role {
        match role {
            TokenRole::Predict => Role::Predict,
            TokenRole::Review => Role::Review,
            TokenRole::Admin => Role::Admin,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Predict => "predict",
            Role::Review => "review",
            Role::Admin => "admin",
        }
    }
}

/// Why a caller was refused: no or unknown token (401), or a token
/// without the role (403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    Unauthenticated(String),
    Forbidden(String),
}

/// Who a request came from, for the audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// `auth.required = false`: nobody was asked.
    Anonymous,
    Token {
        id: i64,
        role: Role,
    },
}

impl Caller {
    /// The audit chain's actor: `token/<id>`, never the secret.
    pub fn actor(&self) -> String {
        match self {
            Caller::Anonymous => "anonymous".into(),
            Caller::Token { id, .. } => format!("token/{id}"),
        }
    }
}

pub enum Auth {
    Open,
    Tokens(Arc<ArcSwap<TokenSet>>),
}

impl Auth {
    /// Reads the live tokens and, when `config.required`, keeps them fresh
    /// from `store` until the returned value is dropped.
    pub async fn start(
        config: &config::Auth,
        store: &Store,
    ) -> Result<Auth, sluice_store::StoreError> {
        if !config.required {
            tracing::warn!("auth.required = false: every caller is let in without a token");
            return Ok(Auth::Open);
        }
        let tokens = Arc::new(ArcSwap::from_pointee(store.active_tokens().await?));
        if tokens.load().is_empty() {
            tracing::warn!(
                "no live API token: every model route answers 401 until one is created \
                 (`sluice token create --role predict`)"
            );
        }
        let period = Duration::from_millis(config.refresh_ms);
        let weak = Arc::downgrade(&tokens);
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(tokens) = weak.upgrade() else { return };
                match store.active_tokens().await {
                    Ok(fresh) => tokens.store(Arc::new(fresh)),
                    // keep the last set: a store hiccup must not lock
                    // every caller out (a revocation waits for the store)
                    Err(e) => tracing::warn!("re-reading API tokens: {e}"),
                }
            }
        });
        Ok(Auth::Tokens(tokens))
    }

    /// Checks a request's bearer token (`None` when it sent none) for
    /// `role`. In memory: never waits for the store.
    pub fn authorize(&self, bearer: Option<&str>, role: Role) -> Result<Caller, Denied> {
        let tokens = match self {
            Auth::Open => return Ok(Caller::Anonymous),
            Auth::Tokens(tokens) => tokens.load(),
        };
        let Some(secret) = bearer else {
            return Err(Denied::Unauthenticated(
                "send `Authorization: Bearer <token>` (`sluice token create`)".into(),
            ));
        };
        let Some(record) = tokens.authenticate(secret.trim()) else {
            return Err(Denied::Unauthenticated(
                "the bearer token is unknown or revoked".into(),
            ));
        };
        let has = Role::of(record.role);
        if has < role {
            return Err(Denied::Forbidden(format!(
                "token {} has role `{}`; this route needs `{}`",
                record.id,
                has.as_str(),
                role.as_str()
            )));
        }
        Ok(Caller::Token {
            id: record.id,
            role: has,
        })
    }
}
