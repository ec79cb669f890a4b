//! The dispatcher's part of the world: running the scheduler's decisions,
//! and checking each as it is run (ordering, rate-limit spacing,
//! conservation).

use std::time::Duration;

use super::{Decision, InFlight, Leased, SlotId, World};

impl World {
    /// Runs what the scheduler decided, checking the decisions themselves.
    pub(super) fn run(&mut self, out: Vec<Decision<Leased>>) {
        for decision in out {
            match decision {
                Decision::Send { slot, delivery } => self.sent(slot, delivery),
                Decision::Hold { slot, until } => {
                    assert!(until > self.now, "a hold for a turn already come");
                    self.holds.push((slot, until));
                }
                Decision::TakeTurn { .. } => panic!("a database turn with in-memory turns"),
                Decision::GiveBack(lease) => {
                    assert!(
                        self.outstanding.remove(&lease.delivery),
                        "given back but not held: {lease:?}"
                    );
                    if let Some(s) = self.store.iter_mut().find(|s| s.id == lease.delivery) {
                        s.leased = false;
                    }
                    self.scheduler.returned(1);
                }
                Decision::Look => {}
            }
        }
    }

    fn sent(&mut self, slot: SlotId, delivery: Leased) {
        let id = delivery.lease.delivery;
        assert!(self.outstanding.remove(&id), "sent but not held: {id:?}");
        let stored = self.store.iter().find(|s| s.id == id).expect("stored");
        let (hook, seq, key) = (stored.hook, stored.seq, stored.key);
        let sequence = key.map(|k| (hook, k));
        if let Some(sequence) = sequence {
            let busy = self
                .in_flight
                .values()
                .any(|f| f.sequence == Some(sequence));
            assert!(
                !busy,
                "two deliveries of sequence {sequence:?} in flight at once"
            );
            let last = self.last_sent.insert(sequence, seq).unwrap_or(0);
            assert!(seq >= last, "sequence {sequence:?} sent {seq} after {last}");
        }
        // Starts of a rate-limited webhook: at least 1/rate apart, by the
        // turn each started on (a held turn's, or now).
        let rate = self.config.hooks[hook].1;
        if rate > 0 {
            let turn = self
                .came
                .take()
                .filter(|(s, _)| *s == slot)
                .map_or(self.now, |(_, until)| until);
            // Held turns may come out of order: the nearest on each side.
            let turns = self.turns.entry(hook).or_default();
            let step = Duration::from_secs(1) / rate;
            let before = turns.range(..=turn).next_back();
            let after = turns.range(turn..).next();
            for other in before.into_iter().chain(after) {
                let gap = turn.max(*other) - turn.min(*other);
                assert!(gap >= step, "webhook {hook} started twice {gap:?} apart");
            }
            turns.insert(turn);
        }
        self.holds.retain(|(s, _)| *s != slot);
        let previous = self.in_flight.insert(
            slot,
            InFlight {
                id,
                sequence,
                recorded: false,
            },
        );
        assert!(previous.is_none(), "a slot sent twice without a report");
    }
}
