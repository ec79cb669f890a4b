//! Property test of the scheduler (design §2.5): random operations against a
//! tiny in-memory store, with every decision run as the dispatcher would,
//! and the invariants checked after every step. The world is in `world.rs`.

mod world;

use proptest::prelude::*;

use super::Signal;
use world::{Config, Op, Outcome, World};

fn signal() -> impl Strategy<Value = Signal> {
    prop_oneof![
        3 => Just(Signal::Success),
        1 => Just(Signal::Overloaded),
        1 => Just(Signal::Neutral),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => Just(Outcome::Done),
        1 => Just(Outcome::Retry),
        1 => Just(Outcome::Failed),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<usize>(), 1..4usize, any::<usize>())
            .prop_map(|(hook, count, key)| Op::Publish { hook, count, key }),
        2 => Just(Op::Round),
        5 => any::<usize>().prop_map(|pick| Op::HandOff { pick }),
        4 => (any::<usize>(), outcome(), signal())
            .prop_map(|(pick, outcome, signal)| Op::Finish { pick, outcome, signal }),
        2 => (any::<usize>(), outcome()).prop_map(|(pick, outcome)| Op::Record { pick, outcome }),
        2 => (any::<usize>(), signal()).prop_map(|(pick, signal)| Op::Report { pick, signal }),
        2 => any::<usize>().prop_map(|pick| Op::TurnCame { pick }),
        2 => (0..1500u64).prop_map(|millis| Op::Tick { millis }),
        1 => proptest::option::of(any::<usize>()).prop_map(|hook| Op::Edit { hook }),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (
        1..6usize,
        1..3usize,
        1..4usize,
        proptest::collection::vec(
            (
                0..3usize,
                prop_oneof![3 => Just(0u32), 1 => Just(4u32)],
                0..4usize,
            ),
            1..6,
        ),
    )
        .prop_map(
            |(max_in_flight, per_endpoint, organizations, hooks)| Config {
                max_in_flight,
                per_endpoint,
                organizations,
                hooks,
            },
        )
}

proptest! {
    // No regressions file: a failure prints its minimal case, which goes
    // into a unit test if it is worth keeping.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Caps, fair share, one delivery in flight per sequence and
    /// conservation after every step; then, with no more offers and every
    /// attempt a success, the scheduler and the store empty in bounded steps.
    #[test]
    fn the_scheduler_keeps_its_invariants_under_random_operations(
        config in config(),
        ops in proptest::collection::vec(op(), 1..100),
    ) {
        let mut world = World::new(config);
        for op in ops {
            world.step(op);
        }
        world.drain();
    }
}
