//! How much memory the process keeps: glibc gives each thread that allocates its own arena (up
//! to eight per core), and every arena keeps what its busiest moment needed. Each of SQLite's
//! connection threads and the runtime's workers would then hold tens of MiB that nothing uses,
//! so the process asks for two arenas, unless `MALLOC_ARENA_MAX` says otherwise.

/// Arenas when `MALLOC_ARENA_MAX` is not set.
const ARENAS: i32 = 2;

/// Limits glibc's arenas; call it before any thread starts. Elsewhere than glibc it does nothing.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a tunable of the allocator; nothing else runs yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}
