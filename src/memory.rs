//! Process-wide memory settings of the `productivist` binary and its
//! benchmarks. The library never installs an allocator for an embedder;
//! the binary installs mimalloc (cargo feature `mimalloc`, on by default)
//! and calls [`prefer_small_pages`] first thing. See docs/DECISIONS.md,
//! "The allocator".

/// Keeps transparent huge pages out of this process.
///
/// mimalloc reserves its arenas 2 MiB-aligned, and on a kernel whose THP
/// mode is `always` every touched region then becomes a resident 2 MiB
/// page: an idle node measured 28 MB of RSS instead of 13 MB, and 64 MB
/// instead of 38 MB under load. Whether huge pages buy speed is not
/// settled (docs/BENCHMARKS.md, 2026-12-03: the same within one
/// `bench validate` run, 4% apart between two criterion runs hours apart). Only this process
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
