//! A pass-through FUSE file system that loses, on a cut, everything that was not made durable.
//!
//! It mirrors a backing directory. Nothing written through the mount reaches the backing
//! directory until it is made durable:
//!
//! - A file's data (writes, truncations, its size) is kept in memory ([`Content`]) until the
//!   file is fsynced (`fsync` or `fdatasync`, through any descriptor of it); the fsync writes it
//!   into the backing file.
//! - Directory entries (create, mkdir, unlink, rmdir, rename) change only the in-memory tree
//!   until the directory is fsynced, which makes all of that directory's entries durable. As on
//!   ext4, an fsync of a file whose own entry was never made durable also makes that entry
//!   (and those of its new ancestors) durable.
//!
//! Reads see the latest state. [`Control::cut`] is the power failure: everything not durable is
//! forgotten at once and every later request fails with `EIO`, so the backing directory holds
//! exactly what survived. With torn writes, a random part of the un-synced writes is written into
//! the backing files at the cut, as a disk may have written some of them before the power went
//! (each byte then holds a value that was really written to it).
//!
//! Locks: the file system does not announce `FUSE_POSIX_LOCKS` or `FUSE_FLOCK_LOCKS`, so the
//! kernel keeps `fcntl` and `flock` locks itself, between all processes of this machine, which
//! is what SQLite needs. Shared `mmap` (SQLite's `-shm`) works since files are not opened in
//! `direct_io` mode: the kernel writes the mapped pages back through `write`, and they are
//! treated like any write (never fsynced, so never durable: SQLite rebuilds that file).
//!
//! Writes go through the kernel uncached (no `writeback_cache`): every `write(2)` reaches this
//! file system before it returns, so memory here is exactly what the program wrote.
//!
//! Renames between two directories answer `EXDEV` (programs such as `mv` then copy), so an
//! entry's durable name is always in the directory that holds it now. Hard links, symbolic
//! links and special files are not supported.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs,
    ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::pages::Content;
use crate::rng::Rng;

/// How long the kernel may cache names and attributes. Every change goes through this file
/// system, so the caches are never stale while it is mounted.
const TTL: Duration = Duration::from_secs(1);
const ROOT: u64 = 1;
/// Names used inside the backing directory while a directory's entries are being rearranged.
const SCRATCH_PREFIX: &str = ".powercut-scratch-";

fn errno(e: &io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

/// What a trigger waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerOp {
    /// A `write` to the file.
    Write,
    /// An `fsync` or `fdatasync` of the file.
    Fsync,
}

/// Cuts the power from inside the file system, at an exact operation: the operation that fires
/// it is not applied and fails with `EIO`.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// The file's name (its last component).
    pub name: OsString,
    /// The operation.
    pub op: TriggerOp,
    /// Only writes at this offset count.
    pub at_offset: Option<u64>,
    /// The matching operation that fires it (1 = the next one).
    pub nth: u32,
    /// Whether the cut tears un-synced writes.
    pub torn: bool,
}

/// What a cut threw away.
#[derive(Debug, Clone, Default)]
pub struct CutReport {
    /// What caused it: the trigger, or an outside request.
    pub cause: String,
    /// Files that had un-synced data.
    pub dirty_files: usize,
    /// Bytes written since each file's last fsync, summed (before any torn write).
    pub unsynced_bytes: u64,
    /// Directories whose entries had un-synced changes.
    pub dirty_dirs: usize,
    /// Un-synced bytes that reached the backing files anyway (torn writes).
    pub torn_bytes: u64,
    /// Files that got some.
    pub torn_files: usize,
    /// When the power went.
    pub at: Option<Instant>,
}

/// Counts of what went through the file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// `write` requests.
    pub writes: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// File fsyncs.
    pub fsyncs: u64,
    /// Directory fsyncs.
    pub fsyncdirs: u64,
}

#[derive(Debug)]
enum Body {
    File(Content),
    Dir { entries: BTreeMap<OsString, u64>, durable: BTreeMap<OsString, u64> },
}

#[derive(Debug)]
struct Node {
    body: Body,
    perm: u16,
    uid: u32,
    gid: u32,
    atime: SystemTime,
    mtime: SystemTime,
    ctime: SystemTime,
    /// Where the node is now (parent, name); `None` once unlinked. The root is its own parent.
    link: Option<(u64, OsString)>,
    /// Where the backing directory has it; `None` when it has no durable name.
    durable: Option<(u64, OsString)>,
    /// Kernel references (lookups minus forgets) and open handles: an unlinked node lives on
    /// while either remains.
    lookups: u64,
    opens: u64,
}

impl Node {
    fn new(body: Body, perm: u16, uid: u32, gid: u32) -> Self {
        let now = SystemTime::now();
        Self {
            body,
            perm,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
            link: None,
            durable: None,
            lookups: 0,
            opens: 0,
        }
    }

    fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir { .. })
    }
}

struct State {
    root: PathBuf,
    nodes: HashMap<u64, Node>,
    next_ino: u64,
    cut: Option<CutReport>,
    trigger: Option<Trigger>,
    rng: Rng,
    counters: Counters,
    /// No leniency: an fsync never makes the entry of the file or directory itself durable;
    /// only an fsync of the directory holding it does (POSIX, not ext4).
    strict_dirs: bool,
}

type Fallible<T> = Result<T, Errno>;

impl State {
    fn load(root: &Path, seed: u64) -> io::Result<Self> {
        let meta = fs::metadata(root)?;
        let mut state = Self {
            root: root.to_owned(),
            nodes: HashMap::new(),
            next_ino: ROOT + 1,
            cut: None,
            trigger: None,
            rng: Rng::new(seed),
            counters: Counters::default(),
            strict_dirs: false,
        };
        let mut node = Node::new(
            Body::Dir { entries: BTreeMap::new(), durable: BTreeMap::new() },
            (meta.mode() & 0o7777) as u16,
            meta.uid(),
            meta.gid(),
        );
        node.link = Some((ROOT, OsString::new()));
        node.durable = Some((ROOT, OsString::new()));
        node.lookups = 1;
        state.nodes.insert(ROOT, node);
        state.load_dir(ROOT, root)?;
        Ok(state)
    }

    /// Reads the backing directory `path` into the node `dir`, recursively.
    fn load_dir(&mut self, dir: u64, path: &Path) -> io::Result<()> {
        let mut names: Vec<_> = fs::read_dir(path)?.collect::<Result<_, _>>()?;
        names.sort_by_key(fs::DirEntry::file_name);
        for entry in names {
            let name = entry.file_name();
            let full = entry.path();
            if name.to_string_lossy().starts_with(SCRATCH_PREFIX) {
                // Left by a file system process that died mid-rearrangement: never durable.
                let _ = fs::remove_dir_all(&full).or_else(|_| fs::remove_file(&full));
                continue;
            }
            let meta = fs::symlink_metadata(&full)?;
            let body = if meta.is_dir() {
                Body::Dir { entries: BTreeMap::new(), durable: BTreeMap::new() }
            } else if meta.is_file() {
                Body::File(Content::backed(OpenOptions::new().read(true).write(true).open(&full)?)?)
            } else {
                return Err(io::Error::other(format!("{}: only files and directories are mirrored", full.display())));
            };
            let mut node = Node::new(body, (meta.mode() & 0o7777) as u16, meta.uid(), meta.gid());
            node.mtime = meta.modified().unwrap_or(node.mtime);
            node.link = Some((dir, name.clone()));
            node.durable = Some((dir, name.clone()));
            let ino = self.next_ino;
            self.next_ino += 1;
            let is_dir = node.is_dir();
            self.nodes.insert(ino, node);
            if let Some(Body::Dir { entries, durable }) = self.nodes.get_mut(&dir).map(|n| &mut n.body) {
                entries.insert(name.clone(), ino);
                durable.insert(name, ino);
            }
            if is_dir {
                self.load_dir(ino, &full)?;
            }
        }
        Ok(())
    }

    fn live(&self) -> Fallible<()> {
        if self.cut.is_some() { Err(Errno::EIO) } else { Ok(()) }
    }

    fn node(&self, ino: u64) -> Fallible<&Node> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn node_mut(&mut self, ino: u64) -> Fallible<&mut Node> {
        self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn entries(&self, dir: u64) -> Fallible<&BTreeMap<OsString, u64>> {
        match &self.node(dir)?.body {
            Body::Dir { entries, .. } => Ok(entries),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn entries_mut(&mut self, dir: u64) -> Fallible<&mut BTreeMap<OsString, u64>> {
        match &mut self.node_mut(dir)?.body {
            Body::Dir { entries, .. } => Ok(entries),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn content(&self, ino: u64) -> Fallible<&Content> {
        match &self.node(ino)?.body {
            Body::File(c) => Ok(c),
            Body::Dir { .. } => Err(Errno::EISDIR),
        }
    }

    fn content_mut(&mut self, ino: u64) -> Fallible<&mut Content> {
        match &mut self.node_mut(ino)?.body {
            Body::File(c) => Ok(c),
            Body::Dir { .. } => Err(Errno::EISDIR),
        }
    }

    fn attr(&self, ino: u64) -> Fallible<FileAttr> {
        let node = self.node(ino)?;
        let (kind, size, nlink) = match &node.body {
            Body::File(c) => (FileType::RegularFile, c.size(), u32::from(node.link.is_some())),
            Body::Dir { entries, .. } => {
                let subdirs = entries.values().filter(|i| self.nodes.get(i).is_some_and(Node::is_dir)).count();
                (FileType::Directory, 4096, 2 + u32::try_from(subdirs).unwrap_or(u32::MAX - 2))
            }
        };
        Ok(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: node.atime,
            mtime: node.mtime,
            ctime: node.ctime,
            crtime: node.ctime,
            kind,
            perm: node.perm,
            nlink,
            uid: node.uid,
            gid: node.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    /// The node's path in the backing directory, when it has a durable name.
    fn backing_path(&self, ino: u64) -> Option<PathBuf> {
        if ino == ROOT {
            return Some(self.root.clone());
        }
        let (parent, name) = self.nodes.get(&ino)?.durable.as_ref()?;
        Some(self.backing_path(*parent)?.join(name))
    }

    /// Drops a node nothing refers to any more.
    fn collect(&mut self, ino: u64) {
        if ino == ROOT {
            return;
        }
        if let Some(n) = self.nodes.get(&ino)
            && n.link.is_none()
            && n.durable.is_none()
            && n.lookups == 0
            && n.opens == 0
        {
            self.nodes.remove(&ino);
        }
    }

    fn add_node(&mut self, parent: u64, name: &OsStr, body: Body, perm: u16, uid: u32, gid: u32) -> Fallible<u64> {
        if self.entries(parent)?.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let mut node = Node::new(body, perm, uid, gid);
        node.link = Some((parent, name.to_owned()));
        node.lookups = 1;
        self.nodes.insert(ino, node);
        self.entries_mut(parent)?.insert(name.to_owned(), ino);
        self.touch(parent);
        Ok(ino)
    }

    fn touch(&mut self, ino: u64) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            let now = SystemTime::now();
            n.mtime = now;
            n.ctime = now;
        }
    }

    /// Removes `name` from `parent` now (not durably).
    fn remove_entry(&mut self, parent: u64, name: &OsStr, dir: bool) -> Fallible<()> {
        let ino = *self.entries(parent)?.get(name).ok_or(Errno::ENOENT)?;
        match (&self.node(ino)?.body, dir) {
            (Body::Dir { entries, .. }, true) if !entries.is_empty() => return Err(Errno::ENOTEMPTY),
            (Body::Dir { .. }, false) => return Err(Errno::EISDIR),
            (Body::File(_), true) => return Err(Errno::ENOTDIR),
            _ => {}
        }
        self.entries_mut(parent)?.remove(name);
        self.node_mut(ino)?.link = None;
        self.touch(parent);
        self.collect(ino);
        Ok(())
    }

    fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> Fallible<()> {
        if parent != newparent {
            return Err(Errno::EXDEV);
        }
        if flags.contains(RenameFlags::RENAME_EXCHANGE) || flags.contains(RenameFlags::RENAME_WHITEOUT) {
            return Err(Errno::EINVAL);
        }
        let source = *self.entries(parent)?.get(name).ok_or(Errno::ENOENT)?;
        if name == newname {
            return Ok(());
        }
        if let Some(&target) = self.entries(parent)?.get(newname) {
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            let source_dir = self.node(source)?.is_dir();
            match &self.node(target)?.body {
                Body::Dir { entries, .. } if !source_dir => {
                    let _ = entries;
                    return Err(Errno::EISDIR);
                }
                Body::Dir { entries, .. } if !entries.is_empty() => return Err(Errno::ENOTEMPTY),
                Body::File(_) if source_dir => return Err(Errno::ENOTDIR),
                _ => {}
            }
            self.node_mut(target)?.link = None;
            self.collect(target);
        }
        let entries = self.entries_mut(parent)?;
        entries.remove(name);
        entries.insert(newname.to_owned(), source);
        let node = self.node_mut(source)?;
        node.link = Some((parent, newname.to_owned()));
        node.ctime = SystemTime::now();
        self.touch(parent);
        Ok(())
    }

    /// Fires the armed trigger if this operation matches it. True when the power is now off.
    fn fire(&mut self, ino: u64, op: TriggerOp, offset: u64) -> bool {
        let Some(trigger) = &mut self.trigger else {
            return false;
        };
        let matches = trigger.op == op
            && trigger.at_offset.is_none_or(|at| at == offset)
            && self.nodes.get(&ino).and_then(|n| n.link.as_ref()).is_some_and(|(_, name)| *name == trigger.name);
        if !matches {
            return false;
        }
        trigger.nth = trigger.nth.saturating_sub(1);
        if trigger.nth > 0 {
            return false;
        }
        let trigger = self.trigger.take().unwrap_or_else(|| unreachable!());
        let at = trigger.at_offset.map_or(String::new(), |o| format!(" at offset {o}"));
        self.cut(&format!("trigger: {:?} of {}{at}", trigger.op, trigger.name.to_string_lossy()), trigger.torn);
        true
    }

    /// fsync of a file: its data, and, when the file was never given a durable name, its entry.
    fn sync_file(&mut self, ino: u64) -> Fallible<()> {
        self.live()?;
        self.counters.fsyncs += 1;
        let node = self.node(ino)?;
        if node.durable.is_none()
            && !self.strict_dirs
            && let Some((parent, name)) = node.link.clone()
        {
            self.make_entry_durable(parent, &name, ino)?;
        }
        self.content_mut(ino)?.sync().map_err(|e| errno(&e))
    }

    /// fsync of a directory: all its entries; its own entry too if it never had a durable one.
    fn sync_dir(&mut self, ino: u64) -> Fallible<()> {
        self.live()?;
        self.counters.fsyncdirs += 1;
        let node = self.node(ino)?;
        if !node.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if node.durable.is_none() {
            match node.link.clone() {
                Some((parent, name)) if !self.strict_dirs => self.make_entry_durable(parent, &name, ino)?,
                // Removed before it was ever durable, or strict and its parent not synced since
                // it was made: nothing of it can survive.
                _ => return Ok(()),
            }
        }
        self.reconcile(ino).map_err(|e| errno(&e))
    }

    /// Gives `ino`, which has no durable name, the durable entry `name` in `parent` (the ext4-like
    /// leniency of a file's own fsync). When another node holds that name in the backing
    /// directory, the whole directory is made durable instead, so that no durable state is
    /// reached that the directory never went through.
    fn make_entry_durable(&mut self, parent: u64, name: &OsStr, ino: u64) -> Fallible<()> {
        let parent_node = self.node(parent)?;
        if parent_node.durable.is_none() {
            match parent_node.link.clone() {
                Some((grandparent, parent_name)) => self.make_entry_durable(grandparent, &parent_name, parent)?,
                None => return Ok(()),
            }
        }
        let Body::Dir { durable, .. } = &self.node(parent)?.body else {
            return Err(Errno::ENOTDIR);
        };
        if durable.contains_key(name) {
            return self.reconcile(parent).map_err(|e| errno(&e));
        }
        let dir = self.backing_path(parent).ok_or(Errno::EIO)?;
        self.create_backing(ino, &dir.join(name)).map_err(|e| errno(&e))?;
        self.node_mut(ino)?.durable = Some((parent, name.to_owned()));
        if let Body::Dir { durable, .. } = &mut self.node_mut(parent)?.body {
            durable.insert(name.to_owned(), ino);
        }
        Ok(())
    }

    /// Creates the backing file or directory of a node that is getting its first durable name.
    /// A file's content stays in memory (an entry made durable says nothing of the data).
    fn create_backing(&mut self, ino: u64, path: &Path) -> io::Result<()> {
        let node = self.nodes.get_mut(&ino).ok_or_else(|| io::Error::other("no such node"))?;
        let perm = u32::from(node.perm);
        match &mut node.body {
            Body::File(content) => {
                let file = OpenOptions::new().read(true).write(true).create_new(true).mode(perm).open(path)?;
                content.rebind(file)
            }
            Body::Dir { .. } => fs::DirBuilder::new().mode(perm).create(path),
        }
    }

    /// Makes the backing directory of `dir` hold exactly its current entries.
    fn reconcile(&mut self, dir: u64) -> io::Result<()> {
        let path = self.backing_path(dir).ok_or_else(|| io::Error::other("directory has no durable name"))?;
        let Some(Node { body: Body::Dir { entries, durable }, .. }) = self.nodes.get(&dir) else {
            return Err(io::Error::other("not a directory"));
        };
        let (current, before) = (entries.clone(), durable.clone());
        // Entries that go or change: moved aside first, so that names can be swapped.
        let mut aside: HashMap<u64, PathBuf> = HashMap::new();
        for (name, &ino) in &before {
            if current.get(name) != Some(&ino) {
                let scratch = path.join(format!("{SCRATCH_PREFIX}{ino}"));
                fs::rename(path.join(name), &scratch)?;
                aside.insert(ino, scratch);
            }
        }
        for (name, &ino) in &current {
            if before.get(name) == Some(&ino) {
                continue;
            }
            let target = path.join(name);
            match aside.remove(&ino) {
                Some(scratch) => fs::rename(scratch, &target)?,
                None => self.create_backing(ino, &target)?,
            }
            if let Some(node) = self.nodes.get_mut(&ino) {
                node.durable = Some((dir, name.clone()));
            }
        }
        if let Some(Node { body: Body::Dir { durable, .. }, .. }) = self.nodes.get_mut(&dir) {
            *durable = current;
        }
        for (ino, scratch) in aside {
            if scratch.is_dir() {
                fs::remove_dir_all(&scratch)?
            } else {
                fs::remove_file(&scratch)?
            }
            self.forget_durable(ino);
        }
        Ok(())
    }

    /// A node whose backing entry is gone: it and everything durable below it lose their names.
    fn forget_durable(&mut self, ino: u64) {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        node.durable = None;
        let children: Vec<u64> = match &mut node.body {
            Body::Dir { durable, .. } => std::mem::take(durable).into_values().collect(),
            Body::File(_) => Vec::new(),
        };
        for child in children {
            self.forget_durable(child);
        }
        self.collect(ino);
    }

    /// The power fails: nothing un-synced survives; with `torn`, some un-synced bytes reach the
    /// backing files first.
    fn cut(&mut self, cause: &str, torn: bool) -> CutReport {
        if let Some(report) = &self.cut {
            return report.clone();
        }
        let mut report = CutReport { cause: cause.to_owned(), at: Some(Instant::now()), ..CutReport::default() };
        let mut inos: Vec<u64> = self.nodes.keys().copied().collect();
        inos.sort_unstable();
        for ino in inos {
            let Some(node) = self.nodes.get(&ino) else { continue };
            match &node.body {
                Body::Dir { entries, durable } => {
                    if entries != durable && node.durable.is_some() {
                        report.dirty_dirs += 1;
                    }
                }
                Body::File(content) => {
                    if !content.is_dirty() {
                        continue;
                    }
                    report.dirty_files += 1;
                    report.unsynced_bytes += content.written().bytes();
                    // Only a file with a durable name can show torn writes: the others vanish.
                    if !torn || node.durable.is_none() || self.rng.below(2) == 0 {
                        continue;
                    }
                    let ranges: Vec<(u64, u64)> = content.written().iter().collect();
                    let mut leaked = 0;
                    let last = ranges.len().saturating_sub(1);
                    for (i, (start, end)) in ranges.into_iter().enumerate() {
                        // Each range reaches the disk or not; one is cut short at a sector.
                        let end = if i == last {
                            let sectors = (end - start).div_ceil(512);
                            (start + self.rng.below(sectors + 1) * 512).min(end)
                        } else if self.rng.below(2) == 0 {
                            continue;
                        } else {
                            end
                        };
                        leaked += content.leak(start, end).unwrap_or(0);
                    }
                    if leaked > 0 {
                        report.torn_files += 1;
                        report.torn_bytes += leaked;
                    }
                }
            }
        }
        // Every backing descriptor closes: from here on the backing directory is what survived.
        for node in self.nodes.values_mut() {
            if let Body::File(content) = &mut node.body {
                content.backing = None;
            }
        }
        self.trigger = None;
        self.cut = Some(report.clone());
        report
    }
}

/// Shared between the file system's threads and the [`Control`] handles.
struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The file system as FUSE sees it.
pub struct CutFs {
    shared: Arc<Shared>,
}

/// Handle to cut the power and to watch the file system, usable from any thread.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl Control {
    /// Cuts the power now (once; later calls return the first report).
    pub fn cut(&self, torn: bool) -> CutReport {
        self.shared.lock().cut("requested", torn)
    }

    /// The cut's report, once the power is off.
    pub fn report(&self) -> Option<CutReport> {
        self.shared.lock().cut.clone()
    }

    /// Whether the power is off.
    pub fn is_cut(&self) -> bool {
        self.shared.lock().cut.is_some()
    }

    /// Arms a trigger, replacing any other.
    pub fn arm(&self, trigger: Trigger) {
        self.shared.lock().trigger = Some(trigger);
    }

    /// Strict directories: an fsync of a file or directory never makes its own entry durable,
    /// only an fsync of its parent does (what POSIX promises; ext4 gives more).
    pub fn set_strict_dirs(&self, strict: bool) {
        self.shared.lock().strict_dirs = strict;
    }

    /// What went through so far.
    pub fn counters(&self) -> Counters {
        self.shared.lock().counters
    }
}

impl CutFs {
    /// Mirrors the backing directory `root`; `seed` drives torn writes.
    ///
    /// # Errors
    /// The backing directory cannot be read.
    pub fn new(root: &Path, seed: u64) -> io::Result<(Self, Control)> {
        let shared = Arc::new(Shared { state: Mutex::new(State::load(root, seed)?) });
        Ok((Self { shared: shared.clone() }, Control { shared }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }
}

fn perm_of(mode: u32, umask: u32) -> u16 {
    ((mode & !umask) & 0o7777) as u16
}

fn time_of(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Filesystem for CutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut s = self.lock();
        let found = s.live().and_then(|()| s.entries(parent.0)?.get(name).copied().ok_or(Errno::ENOENT));
        match found.and_then(|ino| s.attr(ino)) {
            Ok(attr) => {
                if let Some(n) = s.nodes.get_mut(&attr.ino.0) {
                    n.lookups += 1;
                }
                reply.entry(&TTL, &attr, Generation(0));
            }
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        let mut s = self.lock();
        if let Some(n) = s.nodes.get_mut(&ino.0) {
            n.lookups = n.lookups.saturating_sub(nlookup);
        }
        s.collect(ino.0);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let s = self.lock();
        match s.live().and_then(|()| s.attr(ino.0)) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = self.lock();
        let result = (|| {
            s.live()?;
            if let Some(size) = size {
                s.content_mut(ino.0)?.truncate(size);
            }
            let node = s.node_mut(ino.0)?;
            if let Some(mode) = mode {
                node.perm = (mode & 0o7777) as u16;
            }
            if let Some(uid) = uid {
                node.uid = uid;
            }
            if let Some(gid) = gid {
                node.gid = gid;
            }
            if let Some(t) = atime {
                node.atime = time_of(t);
            }
            if let Some(t) = mtime {
                node.mtime = time_of(t);
            } else if size.is_some() {
                node.mtime = SystemTime::now();
            }
            node.ctime = SystemTime::now();
            s.attr(ino.0)
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            reply.error(Errno::EPERM);
            return;
        }
        let mut s = self.lock();
        let made = s.live().and_then(|()| {
            s.add_node(parent.0, name, Body::File(Content::default()), perm_of(mode, umask), req.uid(), req.gid())
        });
        match made.and_then(|ino| s.attr(ino)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(&self, req: &Request, parent: INodeNo, name: &OsStr, mode: u32, umask: u32, reply: ReplyEntry) {
        let mut s = self.lock();
        let body = Body::Dir { entries: BTreeMap::new(), durable: BTreeMap::new() };
        let made = s.live().and_then(|()| s.add_node(parent.0, name, body, perm_of(mode, umask), req.uid(), req.gid()));
        match made.and_then(|ino| s.attr(ino)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.lock();
        match s.live().and_then(|()| s.remove_entry(parent.0, name, false)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.lock();
        match s.live().and_then(|()| s.remove_entry(parent.0, name, true)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut s = self.lock();
        match s.live().and_then(|()| s.rename(parent.0, name, newparent.0, newname, flags)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut s = self.lock();
        let result = (|| {
            s.live()?;
            s.content(ino.0)?;
            if flags.0 & libc::O_TRUNC != 0 {
                s.content_mut(ino.0)?.truncate(0);
            }
            s.node_mut(ino.0)?.opens += 1;
            Ok(())
        })();
        match result {
            // The kernel's page cache stays valid from one open to the next: every change to a
            // file goes through here.
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = self.lock();
        let result = (|| {
            s.live()?;
            let ino = match s.entries(parent.0)?.get(name).copied() {
                Some(_) if flags & libc::O_EXCL != 0 => return Err(Errno::EEXIST),
                Some(ino) => {
                    if flags & libc::O_TRUNC != 0 {
                        s.content_mut(ino)?.truncate(0);
                    }
                    s.node_mut(ino)?.lookups += 1;
                    ino
                }
                None => s.add_node(
                    parent.0,
                    name,
                    Body::File(Content::default()),
                    perm_of(mode, umask),
                    req.uid(),
                    req.gid(),
                )?,
            };
            s.content(ino)?;
            s.node_mut(ino)?.opens += 1;
            s.attr(ino)
        })();
        match result {
            Ok(attr) => reply.created(&TTL, &attr, Generation(0), FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let s = self.lock();
        let result = s.live().and_then(|()| s.content(ino.0)?.read(offset, u64::from(size)).map_err(|e| errno(&e)));
        match result {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut s = self.lock();
        let result = (|| {
            s.live()?;
            if s.fire(ino.0, TriggerOp::Write, offset) {
                return Err(Errno::EIO);
            }
            s.content_mut(ino.0)?.write(offset, data).map_err(|e| errno(&e))?;
            s.counters.writes += 1;
            s.counters.bytes_written += data.len() as u64;
            s.touch(ino.0);
            Ok(())
        })();
        match result {
            Ok(()) => reply.written(u32::try_from(data.len()).unwrap_or(u32::MAX)),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        // close(2) makes nothing durable.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = self.lock();
        if let Some(n) = s.nodes.get_mut(&ino.0) {
            n.opens = n.opens.saturating_sub(1);
        }
        s.collect(ino.0);
        reply.ok();
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        let mut s = self.lock();
        let result = if s.fire(ino.0, TriggerOp::Fsync, 0) { Err(Errno::EIO) } else { s.sync_file(ino.0) };
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let s = self.lock();
        match s.live().and_then(|()| s.entries(ino.0).map(drop)) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let s = self.lock();
        let listed = s.live().and_then(|()| {
            let parent = s.node(ino.0)?.link.as_ref().map_or(ROOT, |(p, _)| *p);
            let mut all =
                vec![(ino.0, FileType::Directory, OsString::from(".")), (parent, FileType::Directory, "..".into())];
            for (name, &child) in s.entries(ino.0)? {
                let kind = if s.node(child)?.is_dir() { FileType::Directory } else { FileType::RegularFile };
                all.push((child, kind, name.clone()));
            }
            Ok(all)
        });
        match listed {
            Ok(all) => {
                for (i, (child, kind, name)) in all.into_iter().enumerate().skip(usize::try_from(offset).unwrap_or(0)) {
                    if reply.add(INodeNo(child), i as u64 + 1, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        let mut s = self.lock();
        match s.sync_dir(ino.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let root = self.lock().root.clone();
        match statvfs(&root) {
            Ok(v) => reply.statfs(v.0, v.1, v.2, v.3, v.4, 4096, 255, 4096),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        let s = self.lock();
        match s.live().and_then(|()| s.node(ino.0).map(drop)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode != 0 {
            reply.error(Errno::from_i32(libc::EOPNOTSUPP));
            return;
        }
        let mut s = self.lock();
        let result = s.live().and_then(|()| {
            let content = s.content_mut(ino.0)?;
            let end = offset.saturating_add(length);
            if end > content.size() {
                content.truncate(end);
            }
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

/// Blocks, free blocks, available blocks, files, free files of the backing file system, in
/// 4 KiB units.
fn statvfs(path: &Path) -> io::Result<(u64, u64, u64, u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut v: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `v` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &raw mut v) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let scale = |n: u64| n.saturating_mul(v.f_frsize) / 4096;
    Ok((scale(v.f_blocks), scale(v.f_bfree), scale(v.f_bavail), v.f_files, v.f_ffree))
}

/// A mounted [`CutFs`].
pub struct Mounted {
    session: Option<fuser::BackgroundSession>,
    control: Control,
    mountpoint: PathBuf,
}

/// Mounts a [`CutFs`] of `backing` on `mountpoint`, served by a background thread.
///
/// # Errors
/// The backing directory cannot be read or the mount fails.
pub fn mount(backing: &Path, mountpoint: &Path, seed: u64) -> io::Result<Mounted> {
    let (fs, control) = CutFs::new(backing, seed)?;
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        fuser::MountOption::FSName("powercut".into()),
        fuser::MountOption::Subtype("powercut".into()),
        fuser::MountOption::NoAtime,
    ];
    let session = fuser::spawn_mount(fs, mountpoint, &config)?;
    Ok(Mounted { session: Some(session), control, mountpoint: mountpoint.to_owned() })
}

impl Mounted {
    /// The handle to cut the power.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Cuts the power if it is still on (what was not synced is lost, as when a machine is
    /// switched off), then unmounts. Nothing may still use the mount.
    ///
    /// # Errors
    /// The unmount failed even detached.
    pub fn unmount(mut self, torn: bool) -> io::Result<CutReport> {
        let report = self.control.cut(torn);
        self.detach()?;
        Ok(report)
    }

    fn detach(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        if let Err(e) = session.umount_and_join() {
            // Something still held the mount: detach it; the backing directory is final anyway.
            lazy_unmount(&self.mountpoint).map_err(|l| io::Error::other(format!("unmount: {e}; detached: {l}")))?;
        }
        Ok(())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.control.cut(false);
        let _ = self.detach();
    }
}

/// `umount -l`.
///
/// # Errors
/// The mount point is not a mount.
pub fn lazy_unmount(mountpoint: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(mountpoint.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
