//! Mounts the power-cut file system by hand: `powercut-fs BACKING MOUNTPOINT [--torn] [--strict-dirs] [--seed N]`.
//!
//! SIGUSR1, SIGTERM or SIGINT cuts the power (everything not fsynced is forgotten; with
//! `--torn`, some un-synced writes reach the backing files first) and unmounts; the backing
//! directory then holds what survived. With `--strict-dirs`, an fsync of a file does not make
//! its own new directory entry durable: only an fsync of the directory does (POSIX, not ext4).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut paths = Vec::new();
    let mut torn = false;
    let mut strict = false;
    let mut seed = 1;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--torn" => torn = true,
            "--strict-dirs" => strict = true,
            "--seed" => seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(1),
            "-h" | "--help" => {
                println!(
                    "usage: powercut-fs BACKING MOUNTPOINT [--torn] [--strict-dirs] [--seed N]; SIGUSR1/SIGTERM/SIGINT cut and unmount"
                );
                return ExitCode::SUCCESS;
            }
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let [backing, mountpoint] = paths.as_slice() else {
        eprintln!("usage: powercut-fs BACKING MOUNTPOINT [--torn] [--strict-dirs] [--seed N]");
        return ExitCode::from(2);
    };
    // Blocked before the file system's thread starts, so that only sigwait below sees them.
    let signals = blocked(&[libc::SIGUSR1, libc::SIGTERM, libc::SIGINT]);
    let mounted = match powercut::fs::mount(backing, mountpoint, seed) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("powercut-fs: mount {}: {e}", mountpoint.display());
            return ExitCode::FAILURE;
        }
    };
    mounted.control().set_strict_dirs(strict);
    println!("powercut-fs: {} mirrors {}; send SIGUSR1 to cut", mountpoint.display(), backing.display());
    let mut signal = 0;
    // SAFETY: a valid signal set and out-pointer.
    unsafe { libc::sigwait(&raw const signals, &raw mut signal) };
    let counters = mounted.control().counters();
    match mounted.unmount(torn) {
        Ok(report) => {
            println!("powercut-fs: cut by signal {signal}: {report:?}; {counters:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("powercut-fs: unmount: {e}");
            ExitCode::FAILURE
        }
    }
}

fn blocked(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        for s in signals {
            libc::sigaddset(&raw mut set, *s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
        set
    }
}
