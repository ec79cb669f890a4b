//! Keys the service generates once and every process on the database
//! shares (`service_keys`): the first process to start writes one, and all
//! of them, that one included, read back whichever was written first.
//! Sealed as signing secrets are: encrypted when WEBHOOK_ENCRYPTION_KEY is
//! set.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, Value};

use super::{Store, StoreError};

impl Store {
    /// The key called `name`: the stored one, or else `fresh`, stored now.
    /// Two processes starting at once both get the key stored first: the
    /// insert does nothing when the name is taken, and the read follows it.
    pub async fn service_key(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let table = Alias::new("service_keys");
        let insert = Query::insert()
            .into_table(table.clone())
            .columns([
                Alias::new("name"),
                Alias::new("key"),
                Alias::new("created_at"),
            ])
            .values_panic([
                name.into(),
                Value::Bytes(Some(self.secrets.seal_key(name, fresh))).into(),
                chrono::Utc::now().into(),
            ])
            .on_conflict(
                OnConflict::column(Alias::new("name"))
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        self.db.execute(&insert).await?;
        let select = Query::select()
            .column(Alias::new("key"))
            .from(table)
            .and_where(Expr::col(Alias::new("name")).eq(name))
            .to_owned();
        let row = self
            .db
            .query_one(&select)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the service key {name} vanished once written"))?;
        let stored = row.try_get::<Vec<u8>>("", "key")?;
        Ok(self
            .secrets
            .open_key(name, &stored)
            .map_err(anyhow::Error::from)?)
    }
}
