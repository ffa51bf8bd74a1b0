//! How the store fails.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "order reference {reference:?} is already used by another order (Idempotency-Key differs)"
    )]
    ReferenceTaken { reference: String },
    #[error("{0} not found")]
    NotFound(String),
    /// A state transition found the record no longer in the state it was read in: nothing
    /// was written.
    #[error("order {order} is {found}, no longer {expected} as it was read: nothing was changed")]
    StateMoved {
        order: String,
        expected: paybridge_model::OrderStatus,
        found: paybridge_model::OrderStatus,
    },
}

impl From<StoreError> for paybridge_model::StepError {
    fn from(e: StoreError) -> paybridge_model::StepError {
        // A state that moved on does not move back by trying again.
        let kind = match e {
            StoreError::StateMoved { .. } => paybridge_model::FailureKind::Permanent,
            _ => paybridge_model::FailureKind::Transient,
        };
        paybridge_model::StepError::new(kind, "store", e.to_string())
    }
}
