//! How many calls the people of one organization may have in progress at
//! once in this process: one organization's admins (or its portal links)
//! looping calls from many connections get that many of the service's and
//! the database's time, and the calls of everyone else are not queued
//! behind theirs. The calls beyond wait their turn, first come first
//! served, before their handler starts (a waiting call has read nothing
//! but its headers). Service tokens (scopes, no organization) are the
//! platform's own services and are not counted here: publishing relies on
//! many calls at once sharing commits. A platform token (`webhooks:admin`,
//! no organization) is one of them: it acts for many organizations, which
//! one only its message says, and this runs before the message is read, so
//! its calls count against none (or, should its token also name an
//! organization, against that one). The portal links it makes act as an
//! admin of one organization and count against that one, like its people's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::{Caller, OrganizationId};

/// The calls in progress of each organization with one.
#[derive(Debug)]
pub struct CallQuota {
    per_organization: usize,
    /// Only organizations with a call in progress or waiting have an entry.
    open: Mutex<HashMap<OrganizationId, Arc<Semaphore>>>,
}

impl CallQuota {
    /// At most `per_organization` calls of each organization at once.
    pub fn new(per_organization: usize) -> Arc<Self> {
        Arc::new(Self {
            per_organization: per_organization.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Waits until `caller`'s organization has a call free and takes it
    /// until the returned guard is dropped; at once for a caller without an
    /// organization.
    pub async fn enter(self: &Arc<Self>, caller: &Caller) -> Option<InProgress> {
        let organization = caller.membership?.organization_id;
        let calls = self
            .lock()
            .entry(organization)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_organization)))
            .clone();
        // The semaphore is never closed.
        let permit = calls.acquire_owned().await.ok()?;
        Some(InProgress {
            permit: Some(permit),
            quota: self.clone(),
            organization,
        })
    }

    /// How many organizations have a call in progress or waiting.
    pub fn organizations(&self) -> usize {
        self.lock().len()
    }

    // Each critical section is one map operation: the map stays
    // consistent whatever panicked while holding the lock.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OrganizationId, Arc<Semaphore>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One call counted against its organization; dropping it lets the next
/// one in.
#[derive(Debug)]
pub struct InProgress {
    permit: Option<OwnedSemaphorePermit>,
    quota: Arc<CallQuota>,
    organization: OrganizationId,
}

impl Drop for InProgress {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut open = self.quota.lock();
        // Only the map holds it: no call in progress, none waiting (a
        // waiting call holds a clone), so the entry goes.
        if open
            .get(&self.organization)
            .is_some_and(|calls| Arc::strong_count(calls) == 1)
        {
            open.remove(&self.organization);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Credential, Membership, Role};
    use chrono::Utc;
    use std::time::Duration;

    fn member_of(organization: OrganizationId) -> Caller {
        Caller {
            subject: "admin".into(),
            membership: Some(Membership {
                organization_id: organization,
                role: Role::Admin,
            }),
            scopes: Vec::new(),
            credential: Credential::IdentityToken,
            expires_at: Utc::now(),
        }
    }

    fn organization() -> OrganizationId {
        OrganizationId::from_uuid(uuid::Uuid::new_v4())
    }

    #[tokio::test]
    async fn an_organization_waits_beyond_its_calls_and_others_do_not() {
        let quota = CallQuota::new(2);
        let (busy, quiet) = (member_of(organization()), member_of(organization()));
        let first = quota.enter(&busy).await.unwrap();
        let _second = quota.enter(&busy).await.unwrap();
        let third = tokio::time::timeout(Duration::from_millis(50), quota.enter(&busy)).await;
        assert!(
            third.is_err(),
            "a third call of the same organization waits"
        );
        let other = tokio::time::timeout(Duration::from_millis(50), quota.enter(&quiet)).await;
        assert!(other.is_ok(), "another organization's call goes at once");

        let waiting = tokio::spawn({
            let (quota, busy) = (quota.clone(), busy.clone());
            async move { quota.enter(&busy).await.map(drop) }
        });
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiting call goes once one ends")
            .unwrap();
    }

    #[tokio::test]
    async fn services_are_not_counted_and_idle_organizations_are_forgotten() {
        let quota = CallQuota::new(1);
        for scope in ["events:publish", "webhooks:admin"] {
            let service = Caller {
                membership: None,
                scopes: vec![scope.into()],
                ..member_of(organization())
            };
            let held: Vec<_> = (0..3).map(|_| quota.enter(&service)).collect();
            for call in held {
                assert!(call.await.is_none(), "{scope}");
            }
        }
        let caller = member_of(organization());
        let call = quota.enter(&caller).await.unwrap();
        assert_eq!(quota.organizations(), 1);
        drop(call);
        assert_eq!(quota.organizations(), 0);
    }
}
