//! Group commit: calls that arrive at the same moment share one durable
//! transaction, so a burst costs one commit (one fsync), not one each.

use tokio::sync::{mpsc, oneshot};

use super::ServiceError;
use crate::store::StoreError;

/// The most calls that share one commit.
const GROUP_COMMIT: usize = 128;

/// Writes that may share a transaction.
pub(super) trait Grouped: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Done: Send + 'static;

    /// Stores every item in one transaction and answers for each, in their
    /// order; an error means that none was stored.
    fn all(
        &self,
        items: &[Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Done>, StoreError>> + Send;

    /// Stores one item in a transaction of its own.
    fn one(&self, item: &Self::Item)
    -> impl Future<Output = Result<Self::Done, StoreError>> + Send;

    /// What follows a commit (handing deliveries to the workers), done
    /// whether or not the caller still waits.
    fn committed(&self, done: &mut Self::Done);
}

type Answer<G> = oneshot::Sender<Result<<G as Grouped>::Done, StoreError>>;

/// Hands items to the task that stores them in groups.
pub(super) struct GroupCommit<G: Grouped> {
    queue: mpsc::Sender<(G::Item, Answer<G>)>,
    /// Names the task in errors.
    what: &'static str,
}

impl<G: Grouped> Clone for GroupCommit<G> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            what: self.what,
        }
    }
}

impl<G: Grouped> GroupCommit<G> {
    /// Starts the committing task; call inside a Tokio runtime.
    pub fn start(grouped: G, what: &'static str) -> Self {
        let (queue, waiting) = mpsc::channel(GROUP_COMMIT * 4);
        tokio::spawn(commit_in_groups(grouped, waiting));
        Self { queue, what }
    }

    /// Stores `item` with whatever else waits to be stored. Once this
    /// returns, it is durable and `committed` has run.
    pub async fn submit(&self, item: G::Item) -> Result<G::Done, ServiceError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send((item, answer))
            .await
            .map_err(|_| ServiceError::Unavailable(anyhow::anyhow!("the {} stopped", self.what)))?;
        let done = answered.await.map_err(|_| {
            ServiceError::Internal(anyhow::anyhow!("the {} dropped a call", self.what))
        })?;
        Ok(done?)
    }
}

/// Takes whatever is queued (at least one item, at most a group), stores it
/// in one transaction, runs what follows the commit, and answers each
/// caller. A failed group is stored again item by item, so one bad item
/// cannot fail the others.
async fn commit_in_groups<G: Grouped>(
    grouped: G,
    mut waiting: mpsc::Receiver<(G::Item, Answer<G>)>,
) {
    let mut group = Vec::with_capacity(GROUP_COMMIT);
    while waiting.recv_many(&mut group, GROUP_COMMIT).await > 0 {
        let (items, answers): (Vec<G::Item>, Vec<_>) = group.drain(..).unzip();
        let answer = |to: Answer<G>, result: Result<G::Done, StoreError>| {
            let result = result.map(|mut done| {
                grouped.committed(&mut done);
                done
            });
            let _ = to.send(result);
        };
        match grouped.all(&items).await {
            Ok(done) => {
                for (to, done) in answers.into_iter().zip(done) {
                    answer(to, Ok(done));
                }
            }
            Err(_) if items.len() > 1 => {
                for (item, to) in items.iter().zip(answers) {
                    answer(to, grouped.one(item).await);
                }
            }
            Err(err) => {
                // A group of one: its caller gets the error itself.
                if let Some(to) = answers.into_iter().next() {
                    answer(to, Err(err));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Stores numbers; a group holding 13 fails, and 13 alone fails too.
    #[derive(Clone, Default)]
    struct Numbers {
        groups: Arc<Mutex<Vec<Vec<u32>>>>,
        committed: Arc<Mutex<Vec<u32>>>,
    }

    impl Grouped for Numbers {
        type Item = u32;
        type Done = u32;

        async fn all(&self, items: &[u32]) -> Result<Vec<u32>, StoreError> {
            self.groups.lock().unwrap().push(items.to_vec());
            if items.contains(&13) {
                return Err(StoreError::Other(anyhow::anyhow!("unlucky")));
            }
            Ok(items.iter().map(|n| n * 10).collect())
        }

        async fn one(&self, item: &u32) -> Result<u32, StoreError> {
            Ok(self.all(std::slice::from_ref(item)).await?[0])
        }

        fn committed(&self, done: &mut u32) {
            self.committed.lock().unwrap().push(*done);
        }
    }

    /// Submits every number at once and waits for all the answers.
    async fn submit_together(numbers: &Numbers, items: Vec<u32>) -> Vec<Result<u32, ServiceError>> {
        let commits = GroupCommit::start(numbers.clone(), "test committer");
        let calls = items.into_iter().map(|n| {
            let commits = commits.clone();
            tokio::spawn(async move { commits.submit(n).await })
        });
        let mut answers = Vec::new();
        for call in calls.collect::<Vec<_>>() {
            answers.push(call.await.unwrap());
        }
        answers
    }

    #[tokio::test(flavor = "current_thread")]
    async fn calls_made_at_once_share_a_group() {
        let numbers = Numbers::default();
        let answers = submit_together(&numbers, (1..=5).collect()).await;
        let answers: Vec<u32> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers, [10, 20, 30, 40, 50]);
        assert_eq!(*numbers.groups.lock().unwrap(), [vec![1, 2, 3, 4, 5]]);
        assert_eq!(*numbers.committed.lock().unwrap(), [10, 20, 30, 40, 50]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_group_is_stored_again_one_by_one_and_fails_only_the_bad_call() {
        let numbers = Numbers::default();
        let answers = submit_together(&numbers, vec![1, 13, 3]).await;
        assert_eq!(answers[0].as_ref().unwrap(), &10);
        assert!(matches!(answers[1], Err(ServiceError::Internal(_))));
        assert_eq!(answers[2].as_ref().unwrap(), &30);
        assert_eq!(
            *numbers.groups.lock().unwrap(),
            [vec![1, 13, 3], vec![1], vec![13], vec![3]]
        );
        assert_eq!(*numbers.committed.lock().unwrap(), [10, 30]);
    }
}
