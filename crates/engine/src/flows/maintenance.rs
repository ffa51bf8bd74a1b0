//! The engine's own periodic work, run as flows so that schedules fire them like any other:
//! pruning history, keeping the Zoho access token fresh, and the payment watchdog.

use std::time::Duration;

use crate::error::StepError;
use crate::runtime::RunContext;

/// How long the token must still last after a refresh check (two schedule periods).
const TOKEN_LASTING: Duration = Duration::from_secs(20 * 60);

pub(crate) async fn prune(ctx: &RunContext<'_>) -> Result<(), StepError> {
    ctx.engine.prune().await?;
    Ok(())
}

pub(crate) async fn zoho_token_refresh(ctx: &RunContext<'_>) -> Result<(), StepError> {
    ctx.engine
        .connectors
        .zoho
        .keep_token_fresh(TOKEN_LASTING)
        .await?;
    Ok(())
}

pub(crate) async fn payment_watchdog(ctx: &RunContext<'_>) -> Result<(), StepError> {
    ctx.engine.watch_payments().await.map_err(|e| {
        StepError::new(
            paybridge_model::FailureKind::Transient,
            "engine",
            e.to_string(),
        )
    })?;
    Ok(())
}
