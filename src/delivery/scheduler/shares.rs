//! The cap on requests in flight to one endpoint, split between the
//! processes delivering from one PostgreSQL, so that together they never
//! exceed it and no request pays a statement for it.
//!
//! Each process learns from its heartbeat who is alive, oldest first, and
//! takes its part: the cap divided by their number, the remainder one each
//! to the oldest, so the parts add up to the cap exactly. With more
//! processes than the cap, the youngest get nothing and deliver nothing.
//!
//! Membership moves safely. A process gone (its row ran out) leaves its part
//! unused until the others see it gone; they then take more. A process that
//! joins is counted by the others as soon as they see it, but takes its part
//! only once every other one has seen it and is within its new, smaller
//! part: until then it takes nothing. A process out of touch with the
//! database for most of its heartbeat's life stops starting requests before
//! the others may count it out (`fence`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::Heartbeat;

/// The part of `cap` the process ranked `rank` (0: the oldest) of `live`
/// may use.
pub(in crate::delivery) fn part(cap: usize, rank: usize, live: usize) -> usize {
    if rank >= live {
        return 0;
    }
    cap / live + usize::from(rank < cap % live)
}

/// One process's view of the membership, and the part it takes.
#[derive(Debug)]
pub(in crate::delivery) struct Shares {
    me: Uuid,
    cap: usize,
    /// The database time from which every other process's membership reads
    /// include this one: the start of the first beat that found its row
    /// already written (so committed before).
    visible_since: Option<DateTime<Utc>>,
    /// Every other process has seen this one and is within its part.
    counted_in: bool,
    /// When the membership the current part comes from was read.
    applied_as_of: Option<DateTime<Utc>>,
    /// Out of touch with the database: takes nothing until the next beat.
    fenced: bool,
    share: usize,
}

impl Shares {
    /// A process among others, which takes nothing until its beats say it may.
    pub(in crate::delivery) fn joining(me: Uuid, cap: usize) -> Self {
        Self {
            me,
            cap,
            visible_since: None,
            counted_in: false,
            applied_as_of: None,
            fenced: false,
            share: 0,
        }
    }

    /// The only process there can be (SQLite): the whole cap, always.
    pub(in crate::delivery) fn alone(cap: usize) -> Self {
        Self {
            counted_in: true,
            share: cap,
            ..Self::joining(Uuid::nil(), cap)
        }
    }

    /// The most requests this process may have in flight to one endpoint.
    pub(in crate::delivery) fn share(&self) -> usize {
        self.share
    }

    /// What the next heartbeat says of this process: as of which
    /// membership read it is within its part, when `within` (no endpoint
    /// has more of its requests in flight than its part now).
    pub(in crate::delivery) fn settled_as_of(&self, within: bool) -> Option<DateTime<Utc>> {
        self.applied_as_of.filter(|_| within)
    }

    /// A heartbeat answered: the part to take from now on.
    pub(in crate::delivery) fn heard(&mut self, beat: &Heartbeat) -> usize {
        if beat.joined {
            // New, or back after the others may have counted it out.
            self.visible_since = None;
            self.counted_in = false;
        } else if self.visible_since.is_none() {
            self.visible_since = Some(beat.now);
        }
        self.applied_as_of = Some(beat.now);
        self.fenced = false;
        if let Some(visible) = self.visible_since {
            // Sticky: a later joiner waits for this one, not the reverse.
            self.counted_in |= beat
                .members
                .iter()
                .filter(|m| m.id != self.me)
                .all(|m| m.settled_as_of.is_some_and(|s| s > visible));
        }
        let rank = beat.members.iter().position(|m| m.id == self.me);
        self.share = match rank {
            Some(rank) if self.counted_in => part(self.cap, rank, beat.members.len()),
            _ => 0,
        };
        self.share
    }

    /// No beat got through for so long that the others may soon count this
    /// process out: it starts nothing more until one does.
    pub(in crate::delivery) fn fence(&mut self) {
        self.fenced = true;
        self.share = 0;
    }

    pub(in crate::delivery) fn fenced(&self) -> bool {
        self.fenced
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Member;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + second, 0).unwrap()
    }

    fn member(id: Uuid, settled_as_of: Option<i64>) -> Member {
        Member {
            id,
            settled_as_of: settled_as_of.map(at),
        }
    }

    fn beat(now: i64, joined: bool, members: Vec<Member>) -> Heartbeat {
        Heartbeat {
            now: at(now),
            joined,
            members,
        }
    }

    #[test]
    fn parts_add_up_to_the_cap_exactly_for_any_number_of_processes() {
        for cap in 1..=20 {
            for live in 1..=25 {
                let parts: Vec<_> = (0..live).map(|rank| part(cap, rank, live)).collect();
                assert_eq!(parts.iter().sum::<usize>(), cap, "cap {cap}, {live} live");
                let (most, least) = (parts.iter().max(), parts.iter().min());
                assert!(most.unwrap() - least.unwrap() <= 1, "{parts:?}");
                assert!(parts.windows(2).all(|w| w[0] >= w[1]), "the oldest first");
            }
        }
        assert_eq!(part(16, 3, 3), 0, "not among the live");
    }

    #[test]
    fn a_lone_process_takes_the_whole_cap_once_its_row_is_seen() {
        let me = Uuid::new_v4();
        let mut shares = Shares::joining(me, 16);
        assert_eq!(shares.share(), 0);
        assert_eq!(shares.heard(&beat(0, true, vec![member(me, None)])), 0);
        assert_eq!(shares.heard(&beat(1, false, vec![member(me, Some(0))])), 16);
        assert_eq!(Shares::alone(16).share(), 16);
    }

    #[test]
    fn a_joiner_waits_until_every_other_process_is_within_its_new_part() {
        let (old, new) = (Uuid::new_v4(), Uuid::new_v4());
        let mut joiner = Shares::joining(new, 2);
        joiner.heard(&beat(
            10,
            true,
            vec![member(old, Some(9)), member(new, None)],
        ));
        // Its row is visible from 11 on; the old one last read before that.
        let seen = joiner.heard(&beat(
            11,
            false,
            vec![member(old, Some(9)), member(new, Some(10))],
        ));
        assert_eq!(seen, 0);
        // The old one read it at 12 but still has too much in flight.
        let busy = joiner.heard(&beat(
            13,
            false,
            vec![member(old, None), member(new, Some(11))],
        ));
        assert_eq!(busy, 0);
        // Within the part it took at 12: the joiner takes its own.
        let settled = vec![member(old, Some(12)), member(new, Some(13))];
        assert_eq!(joiner.heard(&beat(14, false, settled)), 1);
        // A later joiner does not take it back out.
        let third = Uuid::new_v4();
        let later = vec![
            member(old, None),
            member(new, Some(14)),
            member(third, None),
        ];
        assert_eq!(joiner.heard(&beat(15, false, later)), 1);
    }

    #[test]
    fn the_old_process_gives_up_part_of_the_cap_as_soon_as_it_sees_a_joiner() {
        let (old, new) = (Uuid::new_v4(), Uuid::new_v4());
        let mut shares = Shares::joining(old, 3);
        shares.heard(&beat(0, true, vec![member(old, None)]));
        assert_eq!(shares.heard(&beat(1, false, vec![member(old, Some(0))])), 3);
        let both = vec![member(old, Some(1)), member(new, None)];
        assert_eq!(
            shares.heard(&beat(2, false, both)),
            2,
            "the oldest gets the odd one"
        );
        assert_eq!(shares.settled_as_of(true), Some(at(2)));
        assert_eq!(shares.settled_as_of(false), None);
        // The joiner gone: the whole cap again.
        assert_eq!(shares.heard(&beat(3, false, vec![member(old, Some(2))])), 3);
    }

    #[test]
    fn a_process_written_anew_joins_again_and_a_fenced_one_takes_nothing() {
        let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
        let mut shares = Shares::joining(me, 4);
        shares.heard(&beat(0, true, vec![member(me, None)]));
        assert_eq!(shares.heard(&beat(1, false, vec![member(me, Some(0))])), 4);
        shares.fence();
        assert!(shares.fenced());
        assert_eq!(shares.share(), 0);
        // Its row had run out and the other took the whole cap meanwhile.
        let back = vec![member(other, Some(5)), member(me, None)];
        assert_eq!(shares.heard(&beat(6, true, back)), 0);
        assert!(!shares.fenced());
        let seen = vec![member(other, Some(6)), member(me, Some(6))];
        assert_eq!(
            shares.heard(&beat(7, false, seen)),
            0,
            "seen before it was visible"
        );
        let seen = vec![member(other, Some(8)), member(me, Some(7))];
        assert_eq!(shares.heard(&beat(9, false, seen)), 2);
    }

    #[test]
    fn more_processes_than_the_cap_leave_the_youngest_without_a_part() {
        let ids: Vec<_> = (0..3).map(|_| Uuid::new_v4()).collect();
        let youngest = ids[2];
        let mut shares = Shares::joining(youngest, 2);
        shares.heard(&beat(0, true, vec![]));
        let all: Vec<_> = ids.iter().map(|id| member(*id, Some(5))).collect();
        assert_eq!(shares.heard(&beat(1, false, all)), 0);
    }
}
