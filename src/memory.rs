//! Process-wide memory settings of the `productivist` binary and its
//! benchmarks. The library never installs an allocator for an embedder;
//! the binary installs mimalloc (cargo feature `mimalloc`, on by default)
//! and calls [`apply_page_policy`] first thing: small pages unless
//! [`HUGE_PAGES_ENV`] asks for the kernel's default. See
//! docs/DECISIONS.md, "The allocator".

/// Keeps transparent huge pages out of this process.
///
/// mimalloc reserves its arenas 2 MiB-aligned, and on a kernel whose THP
/// mode is `always` every touched region then becomes a resident 2 MiB
/// page: an idle node measured 28 MB of RSS instead of 13 MB, and 64 MB
/// instead of 38 MB under load. Huge pages do buy speed on such a kernel
/// (validation 2 to 8% faster, alternated criterion runs in
/// docs/BENCHMARKS.md, 2026-12-03 13:50): [`HUGE_PAGES_ENV`] chooses
/// them for a node where throughput matters more than memory. Only this process
/// is affected (`PR_SET_THP_DISABLE`), and the kernel checks the flag at
/// page-fault time, so it covers what was mapped before the call too. A
/// no-op off Linux.
pub fn prefer_small_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_THP_DISABLE) takes no pointers. On failure (a
    // kernel older than 3.15) the process runs as before, with more RSS.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Whether the process leaves transparent huge pages to the kernel's
/// setting or keeps them out ([`prefer_small_pages`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagePolicy {
    /// Small pages only: the footprint of an appliance (the default).
    SmallPages,
    /// Whatever the kernel's THP mode gives: more resident memory, and on
    /// a kernel in mode `always`, faster validation (docs/BENCHMARKS.md,
    /// 2026-12-03 13:50).
    KernelDefault,
}

/// The environment variable that chooses the [`PagePolicy`]: `1`, `on` or
/// `true` for [`PagePolicy::KernelDefault`]; unset, `0`, `off` or `false`
/// for [`PagePolicy::SmallPages`]. It is read before anything else runs,
/// which is why it is not a command-line option.
pub const HUGE_PAGES_ENV: &str = "PRODUCTIVIST_HUGE_PAGES";

/// Parses [`HUGE_PAGES_ENV`]'s value: `Err` carries what was not
/// understood.
pub fn page_policy_from(value: Option<&std::ffi::OsStr>) -> Result<PagePolicy, String> {
    let Some(value) = value else {
        return Ok(PagePolicy::SmallPages);
    };
    match value.to_str().map(str::to_ascii_lowercase).as_deref() {
        Some("1" | "on" | "true") => Ok(PagePolicy::KernelDefault),
        Some("" | "0" | "off" | "false") => Ok(PagePolicy::SmallPages),
        _ => Err(format!(
            "{HUGE_PAGES_ENV}={value:?} is not one of 1, on, true, 0, off, false"
        )),
    }
}

/// Applies the page policy [`HUGE_PAGES_ENV`] chooses, first thing in the
/// binary and the benchmarks. A value not understood is reported on
/// standard error and the default (small pages) applies: the process
/// starts either way.
pub fn apply_page_policy() -> PagePolicy {
    let policy =
        page_policy_from(std::env::var_os(HUGE_PAGES_ENV).as_deref()).unwrap_or_else(|e| {
            eprintln!("warning: {e}; keeping small pages");
            PagePolicy::SmallPages
        });
    if policy == PagePolicy::SmallPages {
        prefer_small_pages();
    }
    policy
}

#[cfg(test)]
mod policy_tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn the_environment_value_chooses_the_policy() {
        assert_eq!(page_policy_from(None), Ok(PagePolicy::SmallPages));
        for on in ["1", "on", "TRUE"] {
            assert_eq!(
                page_policy_from(Some(OsStr::new(on))),
                Ok(PagePolicy::KernelDefault)
            );
        }
        for off in ["", "0", "off", "False"] {
            assert_eq!(
                page_policy_from(Some(OsStr::new(off))),
                Ok(PagePolicy::SmallPages)
            );
        }
        let e = page_policy_from(Some(OsStr::new("huge"))).unwrap_err();
        assert!(e.contains(HUGE_PAGES_ENV) && e.contains("huge"), "{e}");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn huge_pages_are_off_for_the_process_afterwards() {
        super::prefer_small_pages();
        // SAFETY: PR_GET_THP_DISABLE takes no pointers.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(disabled, 1);
    }
}
