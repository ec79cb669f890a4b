//! The process's file-descriptor limit: every connection costs one, and the
//! usual soft limit (1024) is far below what a busy server holds open.

/// Raises the soft limit on open files to the hard limit, and logs the
/// limit in force (a warning when it cannot be raised).
#[cfg(unix)]
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        let err = std::io::Error::last_os_error();
        tracing::warn!(error = %err, "cannot read the file-descriptor limit");
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            let err = std::io::Error::last_os_error();
            tracing::warn!(
                error = %err,
                soft = limit.rlim_cur,
                hard = limit.rlim_max,
                "cannot raise the file-descriptor limit to its hard limit"
            );
            return;
        }
        limit = raised;
    }
    tracing::info!(limit = limit.rlim_cur, "file-descriptor limit");
}

/// Elsewhere there is no such limit to raise.
#[cfg(not(unix))]
pub fn raise_fd_limit() {}

/// The soft limit on open files now in force; `None` when it cannot be
/// read or there is none.
#[cfg(unix)]
pub fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// Elsewhere there is no such limit.
#[cfg(not(unix))]
pub fn open_file_limit() -> Option<u64> {
    None
}
