//! Adaptive concurrency per endpoint: an endpoint that times out, cannot be
//! reached, or answers 5xx or 429 gets half as many requests at once (down to
//! one), and earns one more back with each success (up to the per-endpoint
//! cap): additive increase, multiplicative decrease, as TCP does. A hanging
//! endpoint so ends up holding one slot, not the whole cap. The cap is this
//! process's share of `WEBHOOK_MAX_PER_ENDPOINT` (see `shares`), and moves
//! when other processes come and go.

use std::collections::HashMap;

use crate::domain::WebhookId;

/// What an attempt says of its endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::delivery) enum Signal {
    /// A 2xx answer.
    Success,
    /// A timeout, a connection failure, a 5xx or a 429: the endpoint is
    /// struggling, ask less of it.
    Overloaded,
    /// Anything else (a 4xx, a refused address): says nothing of its load.
    Neutral,
}

/// The window of every endpoint not at its full cap (the others have none).
#[derive(Debug)]
pub(in crate::delivery) struct Windows {
    limits: HashMap<WebhookId, usize>,
    cap: usize,
}

impl Windows {
    pub(in crate::delivery) fn new(cap: usize) -> Self {
        Self {
            limits: HashMap::new(),
            cap,
        }
    }

    /// The most requests in flight to any one webhook now.
    pub(in crate::delivery) fn cap(&self) -> usize {
        self.cap
    }

    /// Moves the cap: windows above it come down to it, those below keep
    /// what they earned.
    pub(in crate::delivery) fn set_cap(&mut self, cap: usize) {
        self.cap = cap;
        self.limits.retain(|_, limit| *limit < cap);
    }

    /// How many requests `webhook` may have in flight now.
    pub(in crate::delivery) fn limit(&self, webhook: WebhookId) -> usize {
        self.limits.get(&webhook).copied().unwrap_or(self.cap)
    }

    /// Moves `webhook`'s window after an attempt.
    pub(in crate::delivery) fn record(&mut self, webhook: WebhookId, signal: Signal) {
        let limit = self.limit(webhook);
        let next = match signal {
            Signal::Success => (limit + 1).min(self.cap),
            Signal::Overloaded => (limit / 2).max(1),
            Signal::Neutral => limit,
        };
        if next >= self.cap {
            self.limits.remove(&webhook);
        } else {
            self.limits.insert(webhook, next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_struggling_endpoint_halves_down_to_one_and_earns_slots_back_one_by_one() {
        let mut windows = Windows::new(16);
        let hook = WebhookId::generate();
        assert_eq!(windows.limit(hook), 16);
        for expected in [8, 4, 2, 1, 1] {
            windows.record(hook, Signal::Overloaded);
            assert_eq!(windows.limit(hook), expected);
        }
        windows.record(hook, Signal::Neutral);
        assert_eq!(windows.limit(hook), 1);
        for expected in 2..=16 {
            windows.record(hook, Signal::Success);
            assert_eq!(windows.limit(hook), expected);
        }
        windows.record(hook, Signal::Success);
        assert_eq!(windows.limit(hook), 16);
        assert!(
            windows.limits.is_empty(),
            "a healthy endpoint keeps no entry"
        );
    }

    #[test]
    fn each_endpoint_has_its_own_window() {
        let mut windows = Windows::new(4);
        let (sick, well) = (WebhookId::generate(), WebhookId::generate());
        windows.record(sick, Signal::Overloaded);
        windows.record(well, Signal::Success);
        assert_eq!(windows.limit(sick), 2);
        assert_eq!(windows.limit(well), 4);
    }

    #[test]
    fn a_smaller_cap_brings_every_window_down_and_none_leaves_no_room() {
        let mut windows = Windows::new(16);
        let (sick, well) = (WebhookId::generate(), WebhookId::generate());
        windows.record(sick, Signal::Overloaded);
        windows.set_cap(4);
        assert_eq!((windows.limit(sick), windows.limit(well)), (4, 4));
        windows.record(sick, Signal::Overloaded);
        windows.set_cap(8);
        assert_eq!((windows.limit(sick), windows.limit(well)), (2, 8));
        windows.set_cap(0);
        assert_eq!((windows.limit(sick), windows.limit(well)), (0, 0));
        windows.record(sick, Signal::Overloaded);
        windows.record(well, Signal::Success);
        assert_eq!((windows.limit(sick), windows.limit(well)), (0, 0));
    }
}
