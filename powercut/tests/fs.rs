//! The file system's promise, through a real mount: what was fsynced survives a cut, nothing
//! else does. Needs root and /dev/fuse; without them each test says so and passes.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use powercut::fs::{Mounted, Trigger, TriggerOp, mount};

struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn backing(&self) -> PathBuf {
        self.dir.join("backing")
    }
    fn mnt(&self) -> PathBuf {
        self.dir.join("mnt")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = powercut::fs::lazy_unmount(&self.mnt());
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A fresh backing directory and mount point, or `None` where FUSE cannot be mounted.
fn scratch(name: &str) -> Option<Scratch> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/dev/fuse").exists() {
        eprintln!("{name}: skipped, needs root and /dev/fuse");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("powercut-test-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("backing")).unwrap();
    fs::create_dir_all(dir.join("mnt")).unwrap();
    Some(Scratch { dir })
}

fn mounted(s: &Scratch) -> Mounted {
    mount(&s.backing(), &s.mnt(), 7).unwrap()
}

fn fsync_dir(path: &Path) {
    File::open(path).unwrap().sync_all().unwrap();
}

#[test]
fn only_fsynced_data_survives() {
    let Some(s) = scratch("data") else { return };
    fs::write(s.backing().join("kept"), b"before").unwrap();
    let m = mounted(&s);
    let path = s.mnt().join("kept");
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.write_all_at(b"AFTER!", 0).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"AFTER!", "reads see un-synced writes");
    assert_eq!(fs::read(s.backing().join("kept")).unwrap(), b"before", "the backing file does not");
    // fdatasync through another, read-only descriptor, as the service syncs its log by name.
    File::open(&path).unwrap().sync_data().unwrap();
    file.write_all_at(b"lost", 0).unwrap();
    file.write_all_at(b" and more", 6).unwrap();
    drop(file);
    m.unmount(false).unwrap();
    assert_eq!(fs::read(s.backing().join("kept")).unwrap(), b"AFTER!");
}

#[test]
fn a_new_file_needs_an_fsync_to_exist() {
    let Some(s) = scratch("create") else { return };
    let m = mounted(&s);
    fs::write(s.mnt().join("never-synced"), b"x").unwrap();
    let mut synced = File::create(s.mnt().join("synced")).unwrap();
    synced.write_all(b"data").unwrap();
    synced.sync_all().unwrap();
    fs::create_dir(s.mnt().join("dir")).unwrap();
    fs::write(s.mnt().join("dir/inner"), b"inner").unwrap();
    File::open(s.mnt().join("dir/inner")).unwrap().sync_all().unwrap();
    m.unmount(false).unwrap();
    assert!(!s.backing().join("never-synced").exists());
    assert_eq!(fs::read(s.backing().join("synced")).unwrap(), b"data");
    assert_eq!(fs::read(s.backing().join("dir/inner")).unwrap(), b"inner", "an fsync makes new ancestors durable");
}

#[test]
fn directory_changes_wait_for_fsyncdir() {
    let Some(s) = scratch("dirs") else { return };
    for name in ["a", "b", "c"] {
        fs::write(s.backing().join(name), name).unwrap();
    }
    let m = mounted(&s);
    fs::rename(s.mnt().join("a"), s.mnt().join("a2")).unwrap();
    fs::remove_file(s.mnt().join("b")).unwrap();
    fs::write(s.mnt().join("d"), b"d").unwrap();
    assert!(s.backing().join("a").exists() && s.backing().join("b").exists());
    m.unmount(false).unwrap();
    let names = |dir: &Path| {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&s.backing()), ["a", "b", "c"], "nothing un-synced happened");

    let m = mounted(&s);
    fs::rename(s.mnt().join("a"), s.mnt().join("c")).unwrap();
    fs::remove_file(s.mnt().join("b")).unwrap();
    fs::write(s.mnt().join("e"), b"e").unwrap();
    fsync_dir(&s.mnt());
    fs::write(s.mnt().join("after"), b"x").unwrap();
    m.unmount(false).unwrap();
    assert_eq!(names(&s.backing()), ["c", "e"]);
    assert_eq!(fs::read(s.backing().join("c")).unwrap(), b"a", "the rename replaced c");
    assert_eq!(fs::read(s.backing().join("e")).unwrap(), b"", "an entry made durable says nothing of its data");
}

#[test]
fn a_cross_directory_rename_is_refused() {
    let Some(s) = scratch("exdev") else { return };
    let m = mounted(&s);
    fs::create_dir(s.mnt().join("x")).unwrap();
    fs::write(s.mnt().join("f"), b"f").unwrap();
    let err = fs::rename(s.mnt().join("f"), s.mnt().join("x/f")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EXDEV));
    drop(m);
}

#[test]
fn truncation_is_undone_by_a_cut_unless_synced() {
    let Some(s) = scratch("truncate") else { return };
    fs::write(s.backing().join("t"), vec![9u8; 10_000]).unwrap();
    fs::write(s.backing().join("u"), vec![9u8; 10_000]).unwrap();
    let m = mounted(&s);
    OpenOptions::new().write(true).open(s.mnt().join("t")).unwrap().set_len(100).unwrap();
    let u = OpenOptions::new().write(true).open(s.mnt().join("u")).unwrap();
    u.set_len(100).unwrap();
    u.set_len(8_000).unwrap();
    u.sync_data().unwrap();
    assert_eq!(fs::metadata(s.mnt().join("t")).unwrap().len(), 100);
    m.unmount(false).unwrap();
    assert_eq!(fs::read(s.backing().join("t")).unwrap(), vec![9u8; 10_000]);
    let u = fs::read(s.backing().join("u")).unwrap();
    assert_eq!(u.len(), 8_000);
    assert!(u[..100].iter().all(|b| *b == 9) && u[100..].iter().all(|b| *b == 0));
}

#[test]
fn a_trigger_cuts_at_an_exact_write_and_later_requests_fail() {
    let Some(s) = scratch("trigger") else { return };
    fs::write(s.backing().join("log"), b"").unwrap();
    let m = mounted(&s);
    let mut log = OpenOptions::new().append(true).open(s.mnt().join("log")).unwrap();
    m.control().arm(Trigger { name: "log".into(), op: TriggerOp::Write, at_offset: None, nth: 3, torn: false });
    log.write_all(b"one,").unwrap();
    log.sync_data().unwrap();
    log.write_all(b"two,").unwrap();
    assert!(log.write_all(b"three,").is_err(), "the third write is where the power went");
    assert!(m.control().is_cut());
    assert!(log.sync_data().is_err());
    assert!(fs::read(s.mnt().join("log")).is_err());
    drop(log);
    let report = m.unmount(false).unwrap();
    assert!(report.cause.contains("trigger"), "{report:?}");
    assert_eq!(fs::read(s.backing().join("log")).unwrap(), b"one,");
}

#[test]
fn torn_writes_leave_only_bytes_that_were_written() {
    let Some(s) = scratch("torn") else { return };
    fs::write(s.backing().join("f"), vec![1u8; 64 * 1024]).unwrap();
    let m = mounted(&s);
    let f = OpenOptions::new().write(true).open(s.mnt().join("f")).unwrap();
    for i in 0..16u64 {
        f.write_all_at(&[2u8; 1_000], i * 4_096).unwrap();
    }
    f.write_all_at(&[3u8; 10_000], 70_000).unwrap();
    drop(f);
    let report = m.unmount(true).unwrap();
    let after = fs::read(s.backing().join("f")).unwrap();
    for (i, b) in after.iter().enumerate() {
        let offset = i as u64;
        let written2 = offset % 4_096 < 1_000 && offset < 16 * 4_096;
        let allowed: &[u8] = if offset >= 70_000 {
            &[3]
        } else if offset >= 64 * 1024 {
            &[0, 3]
        } else if written2 {
            &[1, 2]
        } else {
            &[1]
        };
        assert!(allowed.contains(b), "byte {i} is {b}: {report:?}");
    }
}

#[test]
fn posix_locks_work_between_processes() {
    let Some(s) = scratch("locks") else { return };
    fs::write(s.backing().join("l"), b"lock me").unwrap();
    let m = mounted(&s);
    let file = OpenOptions::new().read(true).write(true).open(s.mnt().join("l")).unwrap();
    let mut fds = [0; 2];
    // SAFETY: a valid two-int array for pipe.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let lock = |kind: i32| libc::flock {
        l_type: kind as i16,
        l_whence: libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    // SAFETY: the child only calls async-signal-safe functions and leaves with _exit.
    let child = unsafe { libc::fork() };
    if child == 0 {
        unsafe {
            let l = lock(libc::F_WRLCK);
            let ok = libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &l) == 0;
            libc::write(fds[1], [u8::from(ok)].as_ptr().cast(), 1);
            libc::sleep(3);
            libc::_exit(0);
        }
    }
    let mut got = [0u8];
    let mut reader = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    reader.read_exact(&mut got).unwrap();
    assert_eq!(got[0], 1, "the child took the lock");
    let mut probe = lock(libc::F_WRLCK);
    // SAFETY: valid descriptor and flock structure.
    assert_eq!(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut probe) }, 0);
    assert_eq!(i32::from(probe.l_type), libc::F_WRLCK, "another process holds it");
    assert_eq!(probe.l_pid, child);
    let mine = lock(libc::F_RDLCK);
    // SAFETY: as above.
    let taken = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &mine) };
    assert_eq!(taken, -1, "a conflicting lock is refused");
    unsafe {
        libc::kill(child, libc::SIGKILL);
        libc::waitpid(child, std::ptr::null_mut(), 0);
        libc::close(fds[1]);
    }
    drop(file);
    drop(m);
}

#[test]
fn sqlite_in_wal_mode_keeps_what_was_synced() {
    let Some(s) = scratch("sqlite") else { return };
    let m = mounted(&s);
    let db = s.mnt().join("app.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "journal_mode", "wal").unwrap();
    conn.pragma_update(None, "synchronous", "normal").unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)").unwrap();
    let wal = s.mnt().join("app.db-wal");
    File::open(&wal).unwrap().sync_data().unwrap();
    let reader = rusqlite::Connection::open(&db).unwrap();
    for i in 0..300 {
        conn.execute("INSERT INTO t (id, body) VALUES (?1, ?2)", (i, "x".repeat(500))).unwrap();
        if i % 50 == 49 {
            let _: (i64, i64, i64) = reader
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap();
        }
        if i < 200 {
            File::open(&wal).unwrap().sync_data().unwrap();
        }
    }
    let seen: i64 = reader.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(seen, 300, "another connection reads through the shared-memory index");
    let report = m.control().cut(true);
    drop((conn, reader));
    m.unmount(true).unwrap();
    let survivor = rusqlite::Connection::open(s.backing().join("app.db")).unwrap();
    let check: String = survivor.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let n: i64 = survivor.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
    assert!((200..=300).contains(&n), "{n} rows survived: {report:?}");
    let max: i64 = survivor.query_row("SELECT max(id) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(max, n - 1, "a prefix of the commits survived");
}
