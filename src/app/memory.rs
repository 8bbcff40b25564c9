//! How much memory the process keeps. glibc gives each thread that allocates its own arena (up
//! to eight per core), and every arena keeps what its busiest moment needed. Each of SQLite's
//! connection threads and the runtime's workers would then hold tens of MiB that nothing uses,
//! so the process asks for two arenas, unless `MALLOC_ARENA_MAX` says otherwise.
//!
//! glibc also raises its mmap threshold each time a mapped block is freed, up to 32 MiB, so that
//! after the first large sort or text-index doclist the later ones come from an arena, which keeps
//! them. The threshold is held at glibc's own starting value instead, so such blocks are mapped
//! and given back when freed, unless `MALLOC_MMAP_THRESHOLD_` says otherwise. Holding it also
//! holds the trim threshold, which glibc would otherwise raise with it; at its 128 KiB default
//! the top of the heap was given back after nearly every burst, which cost write throughput, so
//! it is set high, unless `MALLOC_TRIM_THRESHOLD_` says otherwise (see BENCHMARKS.md).

/// Arenas when `MALLOC_ARENA_MAX` is not set.
const ARENAS: i32 = 2;

/// Blocks from this size up are mapped on their own, when `MALLOC_MMAP_THRESHOLD_` is not set.
const MMAP_THRESHOLD: i32 = 128 << 10;

/// Free space kept at the top of the heap, when `MALLOC_TRIM_THRESHOLD_` is not set.
const TRIM_THRESHOLD: i32 = 32 << 20;

/// Sets glibc's tunables above; call it before any thread starts. Elsewhere than glibc it does
/// nothing.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (variable, option, value) in [
        ("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, ARENAS),
        ("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        ("MALLOC_TRIM_THRESHOLD_", libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: mallopt only sets a tunable of the allocator; nothing else runs yet.
            unsafe {
                libc::mallopt(option, value);
            }
        }
    }
}
