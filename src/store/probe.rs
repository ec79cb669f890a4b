//! The health monitor's own connection to the database. A ping through the
//! pool would wait for a pooled connection: on SQLite the pool has one,
//! held by whichever write is waiting for the file's write lock, so one
//! tenant's load would make health say the database is gone. The probe
//! connects outside the pool instead, and asks for as little as tells that
//! the database answers: on PostgreSQL a round trip, on SQLite a read of the
//! schema, which in WAL mode never waits for a writer. A probe whose ping
//! failed or was given up on drops its connection and connects afresh on
//! the next ping, so a database that comes back is seen at once.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{self, ConnectOptions, Connection};
use sea_orm::{DatabaseConnection, DbBackend};

/// How long the SQLite probe lets SQLite retry a locked read. A WAL reader
/// is only ever locked out for moments (while another connection recovers
/// the WAL index); the monitor's own timeout bounds the whole ping anyway.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// What a probe connects to.
#[derive(Debug, Clone)]
pub(super) enum Target {
    /// A connection of its own (boxed: connect options are a few hundred
    /// bytes, the pool handle a few words).
    Own(Box<Database>),
    /// An in-memory SQLite database, which no second connection can see:
    /// the pool is pinged, as the only way there is.
    Pool(DatabaseConnection),
}

#[derive(Debug, Clone)]
pub(super) enum Database {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

impl Target {
    /// The probe's target for the database at `url`, which `pool` is
    /// already connected to.
    pub(super) fn new(url: &str, pool: &DatabaseConnection) -> anyhow::Result<Self> {
        let database = match pool.get_database_backend() {
            DbBackend::Sqlite if url.contains(":memory:") || url.contains("mode=memory") => {
                return Ok(Self::Pool(pool.clone()));
            }
            // Read-only: the probe has no business writing, and must not
            // create a new empty file where the database was.
            DbBackend::Sqlite => Database::Sqlite(
                SqliteConnectOptions::from_str(url)?
                    .read_only(true)
                    .create_if_missing(false)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .disable_statement_logging(),
            ),
            DbBackend::Postgres => {
                Database::Postgres(PgConnectOptions::from_str(url)?.disable_statement_logging())
            }
            other => anyhow::bail!("no health probe for {other:?}"),
        };
        Ok(Self::Own(Box::new(database)))
    }
}

/// A connection of the health monitor's own, made when first needed and
/// made again after a failed ping.
pub struct Probe {
    target: Target,
    connection: Option<Probing>,
}

enum Probing {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Probe {
    pub(super) fn new(target: Target) -> Self {
        Self {
            target,
            connection: None,
        }
    }

    /// Answers when the database answers; connects first when there is no
    /// connection. Dropped before it answers (the caller gave up), it drops
    /// the connection with it, and the next ping connects afresh.
    pub async fn ping(&mut self) -> anyhow::Result<()> {
        let database = match &self.target {
            Target::Own(database) => database,
            Target::Pool(pool) => return Ok(pool.ping().await?),
        };
        let mut connection = match self.connection.take() {
            Some(connection) => connection,
            None => connect(database).await.context("cannot connect")?,
        };
        match &mut connection {
            Probing::Sqlite(sqlite) => {
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sqlite_master")
                    .fetch_one(&mut *sqlite)
                    .await
                    .context("cannot read the database's schema")?;
            }
            Probing::Postgres(postgres) => postgres.ping().await.context("no answer")?,
        }
        self.connection = Some(connection);
        Ok(())
    }
}

async fn connect(database: &Database) -> Result<Probing, sqlx::Error> {
    Ok(match database {
        Database::Sqlite(options) => Probing::Sqlite(options.connect().await?),
        Database::Postgres(options) => Probing::Postgres(options.connect().await?),
    })
}
