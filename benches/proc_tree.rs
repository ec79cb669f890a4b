//! The unit tests of the delivery bench's `/proc` reading
//! (benches/delivery/proc_tree.rs). The delivery bench runs without a test
//! harness, so they run in this target instead: `cargo test --bench
//! proc_tree` (and with `cargo test`).

#[path = "delivery/proc_tree.rs"]
mod proc_tree;

#[cfg(test)]
mod tests {
    use crate::proc_tree::*;
    use std::process::{Child, Command};
    use std::time::{Duration, Instant};

    #[test]
    fn parse_counts_fields_from_the_last_parenthesis_of_the_command() {
        let line = "4242 (postgres: (x) a b) S 4000 4242 4242 0 -1 4194560 \
                    120 0 0 0 37 11 5 7 20 0 1 0 123456 1000 200 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse(line),
            Some(Stat {
                pid: 4242,
                ppid: 4000,
                utime: 37,
                stime: 11,
                cutime: 5,
                cstime: 7,
                threads: 1
            })
        );
        assert_eq!(parse("4242 (truncated) S 1 2"), None);
    }

    #[test]
    fn parse_reads_this_process() {
        let me = read(std::process::id()).expect("this process's stat");
        assert_eq!(me.pid, std::process::id());
        assert_eq!(
            Some(me.ppid),
            std::fs::read_to_string("/proc/self/status")
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("PPid:"))
                .and_then(|p| p.trim().parse().ok())
        );
    }

    #[test]
    fn parse_schedstat_reads_nanoseconds_on_a_cpu() {
        let parsed = parse_schedstat("1234567890 42 7\n").unwrap();
        assert!((parsed - 1.23456789).abs() < 1e-12, "{parsed}");
        assert_eq!(parse_schedstat(""), None);
    }

    /// A child that spins until killed; killed and reaped when dropped, so
    /// a failed assertion leaves no spinner behind.
    struct Spinner(Child);

    impl Spinner {
        fn start() -> Self {
            let child = Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .expect("start sh");
            Self(child)
        }

        /// Sends SIGSTOP and waits until the child is off the CPU.
        fn stop(&self) {
            let pid = self.0.id();
            let status = Command::new("kill")
                .args(["-STOP", &pid.to_string()])
                .status()
                .expect("run kill");
            assert!(status.success());
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let line = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
                let state = line[line.rfind(')').unwrap() + 1..]
                    .split_whitespace()
                    .next();
                if state == Some("T") {
                    return;
                }
                assert!(Instant::now() < deadline, "the child never stopped");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    impl Drop for Spinner {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// The tree's CPU less this process's own, in ticks: its children's,
    /// bounded from above (own time read before the tree) and from below
    /// (read after): this process runs meanwhile.
    fn children_ticks(except: &[u32]) -> (u64, u64) {
        let me = std::process::id();
        let own_before = read(me).unwrap().own_ticks();
        let tree = (tree_cpu_seconds(me, except).unwrap() * TICKS_PER_SECOND).round() as u64;
        let own_after = read(me).unwrap().own_ticks();
        (tree.saturating_sub(own_after), tree - own_before)
    }

    #[test]
    fn a_child_counts_while_it_runs_and_after_it_is_reaped_but_not_when_excluded() {
        let (_, before) = children_ticks(&[]);
        let child = Spinner::start();
        let pid = child.0.id();
        let deadline = Instant::now() + Duration::from_secs(30);
        // Live: the tree holds the child's time as it grows.
        let mut spent = 0;
        while spent < 10 {
            assert!(Instant::now() < deadline, "the child never used 0.1 s");
            std::thread::sleep(Duration::from_millis(10));
            spent = read(pid).unwrap().own_ticks();
            let (_, seen) = children_ticks(&[]);
            assert!(
                seen >= before + spent,
                "the tree saw {seen} ticks of children ({before} before), the child used {spent}"
            );
            let (excluded, _) = children_ticks(&[pid]);
            assert!(excluded <= before, "an excluded child still counted");
        }
        // Single-threaded, so read to the nanosecond, not in whole ticks.
        // Stopped first: a running task's `stat` lags `schedstat` by the
        // slice it is in (up to a scheduler tick, far longer on a tickless
        // CPU); a stopped one's two are final.
        child.stop();
        let stat = read(pid).unwrap();
        assert_eq!(stat.threads, 1);
        let exact = stat.own_seconds();
        let ticks = stat.own_ticks();
        // `stat` truncates user and system time to ticks each.
        assert!(
            exact >= ticks as f64 / TICKS_PER_SECOND
                && exact < (ticks + 2) as f64 / TICKS_PER_SECOND,
            "{exact} s, not within two ticks above {ticks} ticks"
        );
        let nanoseconds = (exact * 1e9).round() as u64;
        assert_ne!(nanoseconds % 10_000_000, 0, "{exact} s: whole ticks");
        drop(child);
        // Reaped: its time moved to this process's cutime and cstime.
        assert!(read(pid).is_none(), "the child is gone");
        let (_, seen) = children_ticks(&[]);
        assert!(
            seen >= before + spent,
            "after reaping: {seen} ticks of children ({before} before), the child used {spent}"
        );
    }
}
