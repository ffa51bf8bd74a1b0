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
}

impl From<StoreError> for paybridge_model::StepError {
    fn from(e: StoreError) -> paybridge_model::StepError {
        paybridge_model::StepError::new(
            paybridge_model::FailureKind::Transient,
            "store",
            e.to_string(),
        )
    }
}
