//! CPU time of a process tree from `/proc`: a process, every descendant
//! alive now, and the children it has already reaped. A single-threaded
//! process's own time is read to the nanosecond from `/proc/PID/schedstat`;
//! `stat` truncates it to 10 ms ticks, an error of up to a tick per process
//! and per reading, which over a cluster's two dozen backends swamped a 10 s
//! idle window. The delivery bench
//! reads its PostgreSQL cluster this way (the postmaster and its backends,
//! walwriter, checkpointer, autovacuum...). Its unit tests are in
//! benches/proc_tree.rs (`cargo test --bench proc_tree`), since the
//! delivery bench runs without a test harness.

use std::collections::HashMap;

/// Clock ticks per second in everything `/proc` shows (USER_HZ, which
/// Linux fixes at 100).
pub const TICKS_PER_SECOND: f64 = 100.0;

/// The fields of `/proc/PID/stat` the bench needs; times in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    pub ppid: u32,
    pub utime: u64,
    pub stime: u64,
    /// What the process's reaped (waited-for) children used, with their own
    /// reaped children in turn.
    pub cutime: u64,
    pub cstime: u64,
    pub threads: u64,
}

impl Stat {
    pub fn own_ticks(&self) -> u64 {
        self.utime + self.stime
    }

    pub fn reaped_children_ticks(&self) -> u64 {
        self.cutime + self.cstime
    }

    /// The process's own CPU seconds: to the nanosecond when it has one
    /// thread (`schedstat` counts its main thread only), in ticks otherwise.
    pub fn own_seconds(&self) -> f64 {
        let exact = (self.threads == 1)
            .then(|| std::fs::read_to_string(format!("/proc/{}/schedstat", self.pid)).ok())
            .flatten()
            .and_then(|text| parse_schedstat(&text));
        exact.unwrap_or(self.own_ticks() as f64 / TICKS_PER_SECOND)
    }
}

/// The seconds on a CPU in a `/proc/PID/schedstat` line: its first field,
/// in nanoseconds (then the time waiting to run, and the time slices).
pub fn parse_schedstat(line: &str) -> Option<f64> {
    let nanoseconds: u64 = line.split_whitespace().next()?.parse().ok()?;
    Some(nanoseconds as f64 / 1e9)
}

/// Parses one `/proc/PID/stat` line. The command name sits in parentheses
/// and may hold spaces and parentheses itself, so the fields are counted
/// from the last `)`: state is field 3, ppid 4, utime 14, stime 15,
/// cutime 16, cstime 17, threads 20 (proc(5)).
pub fn parse(line: &str) -> Option<Stat> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let pid = line[..open].trim().parse().ok()?;
    let fields: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        pid,
        ppid: u32::try_from(field(4)?).ok()?,
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
        threads: field(20)?,
    })
}

/// `/proc/PID/stat` of `pid`, if it still exists.
pub fn read(pid: u32) -> Option<Stat> {
    parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process alive now (those that vanish while the list is read are
/// left out).
fn all() -> Vec<Stat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read)
        .collect()
}

/// CPU seconds (user and system) of `root`, of every descendant alive now
/// but those in `except` (and theirs), and of the children `root` has
/// reaped (its cutime and cstime): a child that exits between two readings
/// keeps its time in the sum, moved from its own entry to its parent's
/// reaped-children total. `None` when `root` is gone.
///
/// `root` is read first, then the others: a child reaped in between is
/// missing from that one reading (neither alive nor yet in `root`'s total),
/// never counted twice.
pub fn tree_cpu_seconds(root: u32, except: &[u32]) -> Option<f64> {
    let root_stat = read(root)?;
    let mut children: HashMap<u32, Vec<Stat>> = HashMap::new();
    for stat in all() {
        if stat.pid != root {
            children.entry(stat.ppid).or_default().push(stat);
        }
    }
    let reaped = root_stat.reaped_children_ticks() as f64 / TICKS_PER_SECOND;
    let mut seconds = root_stat.own_seconds() + reaped;
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for child in children.get(&parent).into_iter().flatten() {
            if except.contains(&child.pid) {
                continue;
            }
            seconds += child.own_seconds();
            parents.push(child.pid);
        }
    }
    Some(seconds)
}
