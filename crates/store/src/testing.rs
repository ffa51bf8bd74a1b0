//! Stores for tests (feature `testing`): every backend the machine offers, each fresh.

use crate::store::Store;

/// A database a test runs on: a SQLite file, or a fresh schema in the PostgreSQL that
/// `PAYBRIDGE_TEST_POSTGRES_URL` names. Each `open` is another node (pool).
pub struct TestDb {
    pub backend: &'static str,
    dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// # Panics
    /// When the database cannot be opened (a test's setup has failed).
    pub async fn open(&self) -> Store {
        // Shown with a failure: which backend it was on.
        eprintln!("on {}", self.backend);
        match &self.postgres {
            None => Store::open_sqlite(&self.dir.path().join("paybridge.db"))
                .await
                .expect("a SQLite store opens"),
            Some((url, schema)) => Store::open_postgres(url, Some(schema))
                .await
                .expect("a PostgreSQL store opens"),
        }
    }

    /// The SQLite file's directory (for checks on the file itself).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.postgres.is_none().then(|| self.dir.path())
    }
}

/// SQLite always; PostgreSQL too when `PAYBRIDGE_TEST_POSTGRES_URL` is set (`.ci/run` sets it).
///
/// # Panics
/// When no temporary directory can be made.
pub async fn backends() -> Vec<TestDb> {
    let mut dbs = vec![TestDb {
        backend: "sqlite",
        dir: tempfile::tempdir().expect("a temporary directory"),
        postgres: None,
    }];
    if let Ok(url) = std::env::var("PAYBRIDGE_TEST_POSTGRES_URL")
        && !url.trim().is_empty()
    {
        dbs.push(TestDb {
            backend: "postgres",
            dir: tempfile::tempdir().expect("a temporary directory"),
            postgres: Some((url, format!("pbtest_{}", uuid::Uuid::new_v4().simple()))),
        });
    }
    dbs
}

/// A fresh SQLite store in a temporary directory (kept as long as the directory is).
///
/// # Panics
/// When it cannot be made.
pub async fn open_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open_sqlite(&dir.path().join("paybridge.db"))
        .await
        .expect("a SQLite store opens");
    (dir, store)
}
