//! Bounds on open health `Watch` streams. Anyone may open one, without a
//! token; it costs the client a stream id and the server a task and its
//! buffers for as long as the client keeps it, which is forever if it likes.
//! So there are at most [`PER_CONNECTION`] on one connection and a set
//! number on the whole server (WEBHOOK_MAX_HEALTH_WATCHES); beyond either, a
//! new `Watch` is refused with RESOURCE_EXHAUSTED saying which bound it hit.
//! Each stream holds a [`WatchPlace`] and gives it back when it is dropped:
//! when the server ends it, the client resets it, or its connection closes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tonic::Status;

use crate::grpc::listener::ConnectionId;

/// The most `Watch` streams one connection may hold open. A client needs one
/// per service it watches, and there are three (the server and its two
/// APIs); a constant, since what a client needs does not depend on the
/// deployment. The server-wide bound does, hence a setting.
pub const PER_CONNECTION: usize = 16;

/// The open `Watch` streams, per connection and in all; cloned, it counts
/// the same streams.
#[derive(Debug, Clone)]
pub struct WatchLimits {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The most streams open on the whole server.
    total: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    /// Only connections with a stream open are in here.
    by_connection: HashMap<ConnectionId, usize>,
}

impl WatchLimits {
    /// At most `total` streams open on the server, and [`PER_CONNECTION`]
    /// on each connection.
    pub fn new(total: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                total,
                open: Mutex::new(Open::default()),
            }),
        }
    }

    /// A place for one more stream on `connection` (`None` for a call that
    /// came some other way than over a connection of the gRPC listener: only
    /// the server-wide bound applies to it), or RESOURCE_EXHAUSTED naming
    /// the bound that is reached.
    pub fn admit(&self, connection: Option<ConnectionId>) -> Result<WatchPlace, Status> {
        let mut open = self.lock();
        let on_connection = connection.map_or(0, |c| {
            open.by_connection.get(&c).copied().unwrap_or_default()
        });
        if on_connection >= PER_CONNECTION {
            return Err(Status::resource_exhausted(format!(
                "too many health Watch streams on this connection: at most {PER_CONNECTION}"
            )));
        }
        if open.total >= self.inner.total {
            return Err(Status::resource_exhausted(format!(
                "too many health Watch streams on this server: at most {}; try again later",
                self.inner.total
            )));
        }
        open.total += 1;
        if let Some(connection) = connection {
            *open.by_connection.entry(connection).or_default() += 1;
        }
        Ok(WatchPlace {
            limits: Arc::clone(&self.inner),
            connection,
        })
    }

    /// How many streams are open.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.inner.lock()
    }
}

impl Inner {
    // Each critical section is a few counter steps that cannot panic half
    // way: the counts are consistent whatever panicked holding the lock.
    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One open `Watch` stream's place; dropping it gives the place back.
#[derive(Debug)]
pub struct WatchPlace {
    limits: Arc<Inner>,
    connection: Option<ConnectionId>,
}

impl Drop for WatchPlace {
    fn drop(&mut self) {
        let mut open = self.limits.lock();
        open.total -= 1;
        if let Some(connection) = self.connection
            && let Some(count) = open.by_connection.get_mut(&connection)
        {
            *count -= 1;
            if *count == 0 {
                open.by_connection.remove(&connection);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tonic::Code;

    fn refusal(result: Result<WatchPlace, Status>) -> String {
        let status = result.expect_err("refused");
        assert_eq!(status.code(), Code::ResourceExhausted);
        status.message().to_owned()
    }

    #[test]
    fn each_connection_gets_its_share_until_the_server_is_full_and_places_come_back() {
        let limits = WatchLimits::new(PER_CONNECTION + 2);
        let (first, second) = (ConnectionId::for_tests(1), ConnectionId::for_tests(2));
        let mut held: Vec<_> = (0..PER_CONNECTION)
            .map(|_| limits.admit(Some(first)).unwrap())
            .collect();
        assert!(refusal(limits.admit(Some(first))).contains("on this connection"));

        let on_second: Vec<_> = (0..2)
            .map(|_| limits.admit(Some(second)).unwrap())
            .collect();
        assert!(refusal(limits.admit(Some(second))).contains("on this server"));
        assert!(refusal(limits.admit(None)).contains("on this server"));

        held.pop();
        let again = limits.admit(Some(second)).expect("a place came back");
        assert!(refusal(limits.admit(Some(first))).contains("on this server"));

        drop((held, on_second, again));
        assert_eq!(limits.open(), 0);
        assert!(
            limits.lock().by_connection.is_empty(),
            "nothing left behind"
        );
    }
}
