//! Rolling a version out next to production and ending that: the one
//! place the CLI, a server's admin routes and a server's automatic
//! decisions go through, so each is audited the same way.

use sluice_store::{DeploymentRecord, DeploymentStatus, NewDeployment, Store};

use crate::gate::GateOutcome;
use crate::{RegistryError, promote};

/// Starts a deployment (canary, A/B or shadow) of `new.version`.
pub async fn deploy(
    store: &Store,
    new: &NewDeployment,
    actor: &str,
) -> Result<DeploymentRecord, RegistryError> {
    Ok(store.start_deployment(new, actor).await?)
}

/// What a rollback undid.
#[derive(Debug, Clone, PartialEq)]
pub enum RolledBack {
    /// The active deployment ended; production never changed.
    Deployment(DeploymentRecord),
    /// No deployment was active: `production` went back from `from` to the
    /// version it named before, `to`.
    Production { from: i64, to: i64 },
}

/// Ends `name`'s active deployment as rolled back, or, with none active,
/// points `production` back at the version it named before the last move
/// (no gate: that version served production already). Audited either way
/// with `reason` and `figures`.
pub async fn rollback(
    store: &Store,
    name: &str,
    actor: &str,
    reason: &str,
    figures: &serde_json::Value,
) -> Result<RolledBack, RegistryError> {
    if let Some(active) = store.active_deployment(name).await? {
        let ended = store
            .end_deployment(
                active.id,
                DeploymentStatus::RolledBack,
                actor,
                reason,
                figures,
            )
            .await?;
        return Ok(RolledBack::Deployment(ended));
    }
    let history = store.alias_history(name).await?;
    let last = history
        .iter()
        .filter(|change| change.alias == "production")
        .max_by_key(|change| change.id);
    let Some((from, Some(to))) = last.map(|c| (c.version, c.previous_version)) else {
        return Err(RegistryError::NothingToRollBack {
            name: name.to_string(),
        });
    };
    store
        .set_alias(
            name,
            "production",
            to,
            actor,
            &serde_json::json!({ "rollback": true, "from": from, "reason": reason, "figures": figures }),
        )
        .await?;
    Ok(RolledBack::Production { from, to })
}

/// Promotes the active deployment `deployment` of its model: `production`
/// moves to its version through the model's gate (as `sluice promote`),
/// then the deployment ends as promoted. A gate that refuses ends it as
/// rolled back with the gate's words as the reason, and is returned.
pub async fn promote_deployment(
    store: &Store,
    deployment: &DeploymentRecord,
    actor: &str,
    reason: &str,
    figures: &serde_json::Value,
) -> Result<(DeploymentRecord, Option<GateOutcome>), RegistryError> {
    match promote(
        store,
        &deployment.model,
        deployment.version,
        "production",
        actor,
    )
    .await
    {
        Ok((_, outcome)) => {
            let ended = store
                .end_deployment(
                    deployment.id,
                    DeploymentStatus::Promoted,
                    actor,
                    reason,
                    figures,
                )
                .await?;
            Ok((ended, outcome))
        }
        Err(refused @ RegistryError::GateFailed { .. }) => {
            store
                .end_deployment(
                    deployment.id,
                    DeploymentStatus::RolledBack,
                    actor,
                    &format!("promotion refused by the gate: {refused}"),
                    figures,
                )
                .await?;
            Err(refused)
        }
        Err(other) => Err(other),
    }
}
