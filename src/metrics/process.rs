//! The process's own figures, read from `/proc/self` at each scrape and
//! named as every Prometheus client library names them (`process_*`).
//! Elsewhere than on Linux there is no `/proc`, and none are exposed.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads the process's figures when scraped.
#[derive(Debug)]
pub(super) struct ProcessCollector {
    ticks_per_second: f64,
    page_size: f64,
    /// When the machine booted, in seconds since the epoch: process start
    /// times are counted from it.
    boot_time: Option<f64>,
}

/// One reading.
#[derive(Debug, Clone, PartialEq)]
struct Reading {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    /// Seconds since boot.
    started_after_boot: f64,
}

impl ProcessCollector {
    pub(super) fn new() -> Self {
        // SAFETY: sysconf only reads configuration values.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        Self {
            ticks_per_second: if ticks > 0 { ticks as f64 } else { 100.0 },
            page_size: if page > 0 { page as f64 } else { 4096.0 },
            boot_time: std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|stat| boot_time(&stat)),
        }
    }

    fn read(&self) -> Option<Reading> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        parse_stat(&stat, self.ticks_per_second, self.page_size)
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(reading) = self.read() {
            let cpu = ConstCounter::new(reading.cpu_seconds);
            cpu.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                cpu.metric_type(),
            )?)?;
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                reading.resident_bytes,
            )?;
            gauge(
                &mut encoder,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                reading.virtual_bytes,
            )?;
            if let Some(boot) = self.boot_time {
                gauge(
                    &mut encoder,
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds",
                    boot + reading.started_after_boot,
                )?;
            }
        }
        if let Some(open) = open_fds() {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors",
                open as f64,
            )?;
        }
        if let Some(max) = max_fds() {
            gauge(
                &mut encoder,
                "process_max_fds",
                "Maximum number of open file descriptors",
                max as f64,
            )?;
        }
        Ok(())
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

/// `btime` of `/proc/stat`: when the machine booted.
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The figures of a `/proc/<pid>/stat` line.
fn parse_stat(stat: &str, ticks_per_second: f64, page_size: f64) -> Option<Reading> {
    // The command name is in parentheses and may hold spaces or
    // parentheses: the fields start after the last `)`.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // Fields 14, 15, 22, 23 and 24 of proc(5), counted from the state (3).
    let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.trim().parse().ok() };
    Some(Reading {
        cpu_seconds: (field(14)? + field(15)?) / ticks_per_second,
        started_after_boot: field(22)? / ticks_per_second,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page_size,
    })
}

/// Entries of `/proc/self/fd` (the one reading it among them, as other
/// client libraries count).
fn open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

/// The soft limit on open descriptors.
fn max_fds() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into `limit`, which lives through the call.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (read == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_cpu_memory_and_start_even_with_a_strange_command_name() {
        let stat = "4242 (web (hook) svc) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    250 150 0 0 20 0 9 0 12345 104857600 2560 18446744073709551615 \
                    1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let reading = parse_stat(stat, 100.0, 4096.0).unwrap();
        assert_eq!(
            reading,
            Reading {
                cpu_seconds: 4.0,
                started_after_boot: 123.45,
                virtual_bytes: 104_857_600.0,
                resident_bytes: 2560.0 * 4096.0,
            }
        );
    }

    #[test]
    fn boot_time_is_read_from_btime() {
        let stat = "cpu  1 2 3 4\nintr 5\nbtime 1764470000\nprocesses 9\n";
        assert_eq!(boot_time(stat), Some(1_764_470_000.0));
        assert_eq!(boot_time("cpu 1 2 3\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_as_running_with_memory_and_descriptors() {
        let collector = ProcessCollector::new();
        let reading = collector.read().expect("/proc/self/stat");
        assert!(reading.resident_bytes > 1024.0 * 1024.0, "{reading:?}");
        assert!(reading.virtual_bytes >= reading.resident_bytes);
        let started = collector.boot_time.unwrap() + reading.started_after_boot;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            started <= now + 1.0 && started > now - 24.0 * 3600.0,
            "{started} vs {now}"
        );
        assert!(open_fds().unwrap() >= 3);
        assert!(max_fds().unwrap() >= open_fds().unwrap() as u64);
    }
}
