//! The processes delivering from one PostgreSQL, so that they can split the
//! cap on requests in flight to one endpoint between them. Each keeps a row
//! alive with a heartbeat; a row that runs out is a process gone. Every time
//! here is the database's clock, the one clock they share.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

use super::{Store, StoreError};

/// A live process, as its row says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: Uuid,
    /// The membership read (its database time) that the process's requests
    /// in flight are within the shares of; `None` while some exceed them.
    pub settled_as_of: Option<DateTime<Utc>>,
}

/// What one heartbeat found.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    /// The database's time of the beat; the membership was read after it.
    pub now: DateTime<Utc>,
    /// This process's row was written anew: it was not there, or had run
    /// out (or was about to), so the others may have counted it out.
    pub joined: bool,
    /// The live processes, this one included, oldest first.
    pub members: Vec<Member>,
}

impl Store {
    /// Keeps process `me` alive for `ttl` from now, says `settled_as_of` of
    /// it, and reads who is alive. A row that would run out within `lapse`
    /// is not trusted to have stayed alive: it is written anew, and the
    /// process joins as if new. Rows that ran out a `ttl` ago are deleted.
    pub async fn heartbeat(
        &self,
        me: Uuid,
        ttl: Duration,
        lapse: Duration,
        settled_as_of: Option<DateTime<Utc>>,
    ) -> Result<Heartbeat, StoreError> {
        // One statement, so one round trip and one snapshot: `now()` is the
        // same throughout, and the membership read cannot see the beat
        // written in it, so this process's row is taken from what the beat
        // returned. Rows the delete takes ran out long before `now()`:
        // the read leaves them out anyway. On the relaxed pool: a beat lost
        // in a crash of the database is written again a beat later.
        let rows = self
            .relaxed
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "WITH gone AS ( \
                   DELETE FROM delivery_processes \
                   WHERE id <> $1 AND expires_at <= now() - make_interval(secs => $3)), \
                 beat AS ( \
                   INSERT INTO delivery_processes AS p (id, joined_at, expires_at, settled_as_of) \
                   VALUES ($1, now(), now() + make_interval(secs => $3), $4) \
                   ON CONFLICT (id) DO UPDATE \
                     SET expires_at = EXCLUDED.expires_at, \
                       settled_as_of = EXCLUDED.settled_as_of, \
                       joined_at = CASE WHEN p.expires_at <= now() + make_interval(secs => $2) \
                         THEN now() ELSE p.joined_at END \
                   RETURNING id, joined_at, settled_as_of), \
                 members AS ( \
                   SELECT id, joined_at, settled_as_of FROM beat \
                   UNION ALL \
                   SELECT id, joined_at, settled_as_of FROM delivery_processes \
                   WHERE expires_at > now() AND id <> $1) \
                 SELECT id, settled_as_of, now() AS now, \
                   (SELECT joined_at = now() FROM beat) AS joined \
                 FROM members ORDER BY joined_at, id",
                vec![
                    me.into(),
                    lapse.as_secs_f64().into(),
                    ttl.as_secs_f64().into(),
                    settled_as_of.into(),
                ],
            ))
            .await?;
        let beat = rows
            .first()
            .ok_or_else(|| anyhow::anyhow!("the heartbeat returned no row"))?;
        let members = rows
            .iter()
            .map(|row| {
                Ok(Member {
                    id: row.try_get("", "id")?,
                    settled_as_of: row.try_get("", "settled_as_of")?,
                })
            })
            .collect::<Result<_, sea_orm::DbErr>>()?;
        Ok(Heartbeat {
            now: beat.try_get("", "now")?,
            joined: beat.try_get("", "joined")?,
            members,
        })
    }

    /// Takes process `me` out at once (it stops delivering), so that the
    /// others take up its share without waiting for its row to run out.
    pub async fn leave(&self, me: Uuid) -> Result<(), StoreError> {
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "DELETE FROM delivery_processes WHERE id = $1",
                [me.into()],
            ))
            .await?;
        Ok(())
    }
}
