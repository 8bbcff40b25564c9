//! One regular file's content: what its backing file durably holds, and the writes made since
//! its last fsync, kept in memory.
//!
//! The backing file holds the content as of the last fsync. Bytes below `valid_len` that no
//! later write touched are read from it; everything written since is kept in 4 KiB pages; a
//! region past `valid_len` that no write touched reads as zeros (a truncation followed by an
//! extension, or a hole). An fsync writes the pages into the backing file and sets its length.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Size of the pages un-synced writes are kept in.
pub const PAGE: u64 = 4096;

/// Byte ranges, merged where they overlap or touch.
#[derive(Debug, Default, Clone)]
pub struct Ranges(BTreeMap<u64, u64>);

impl Ranges {
    /// Adds `[start, end)`.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut start, mut end) = (start, end);
        if let Some((&s, &e)) = self.0.range(..=start).next_back()
            && e >= start
        {
            start = s;
            end = end.max(e);
        }
        let covered: Vec<u64> = self.0.range(start..=end).map(|(&s, _)| s).collect();
        for s in covered {
            if let Some(e) = self.0.remove(&s) {
                end = end.max(e);
            }
        }
        self.0.insert(start, end);
    }

    /// Drops everything at or past `len`.
    pub fn clip(&mut self, len: u64) {
        let _ = self.0.split_off(&len);
        if let Some((_, e)) = self.0.iter_mut().next_back()
            && *e > len
        {
            *e = len;
        }
        self.0.retain(|s, e| s < e);
    }

    /// The ranges, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().map(|(&s, &e)| (s, e))
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Bytes covered.
    pub fn bytes(&self) -> u64 {
        self.0.iter().map(|(s, e)| e - s).sum()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// The content of one regular file.
#[derive(Debug, Default)]
pub struct Content {
    /// The backing file, once the file has a durable name (kept open after that name goes, as a
    /// disk keeps the blocks of an unlinked file that is still open).
    pub backing: Option<File>,
    /// Length of the backing file.
    backing_len: u64,
    /// Backing bytes below this are still the file's content where no page overrides them.
    valid_len: u64,
    /// The file's current size.
    size: u64,
    /// Pages written since the last fsync.
    dirty: BTreeMap<u64, Box<[u8]>>,
    /// Bytes written since the last fsync (for torn writes on a cut).
    written: Ranges,
}

impl Content {
    /// A file whose content is all in `backing`.
    pub fn backed(backing: File) -> io::Result<Self> {
        let len = backing.metadata()?.len();
        Ok(Self { backing: Some(backing), backing_len: len, valid_len: len, size: len, ..Self::default() })
    }

    /// The current size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes written since the last fsync, as ranges.
    pub fn written(&self) -> &Ranges {
        &self.written
    }

    /// Whether anything changed since the last fsync.
    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty() || self.size != self.backing_len || self.valid_len != self.size
    }

    /// Bytes held in memory.
    pub fn dirty_bytes(&self) -> u64 {
        self.dirty.len() as u64 * PAGE
    }

    /// Fills `buf` with backing bytes from `offset`, zeros past `valid_len` or the backing end.
    fn read_clean(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let wanted = usize::try_from(self.valid_len.saturating_sub(offset)).unwrap_or(usize::MAX).min(buf.len());
        let mut got = 0;
        if let Some(backing) = &self.backing {
            while got < wanted {
                match backing.read_at(&mut buf[got..wanted], offset + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        buf[got..].fill(0);
        Ok(())
    }

    /// Up to `len` bytes from `offset`, as a reader sees them now.
    pub fn read(&self, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        if offset >= self.size {
            return Ok(Vec::new());
        }
        let end = self.size.min(offset.saturating_add(len));
        let mut buf = vec![0; usize::try_from(end - offset).map_err(io::Error::other)?];
        let mut pos = offset;
        while pos < end {
            let page = pos / PAGE;
            let page_end = ((page + 1) * PAGE).min(end);
            let at = usize::try_from(pos - offset).map_err(io::Error::other)?;
            if let Some(bytes) = self.dirty.get(&page) {
                let from = usize::try_from(pos - page * PAGE).map_err(io::Error::other)?;
                let n = usize::try_from(page_end - pos).map_err(io::Error::other)?;
                buf[at..at + n].copy_from_slice(&bytes[from..from + n]);
                pos = page_end;
            } else {
                // A run of clean pages in one read of the backing file.
                let mut run_end = page_end;
                while run_end < end && !self.dirty.contains_key(&(run_end / PAGE)) {
                    run_end = (run_end + PAGE).min(end);
                }
                let to = usize::try_from(run_end - offset).map_err(io::Error::other)?;
                self.read_clean(pos, &mut buf[at..to])?;
                pos = run_end;
            }
        }
        Ok(buf)
    }

    /// Writes `data` at `offset`, in memory only.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset + data.len() as u64;
        let mut pos = offset;
        while pos < end {
            let page = pos / PAGE;
            let page_end = ((page + 1) * PAGE).min(end);
            if !self.dirty.contains_key(&page) {
                let mut fresh = vec![0; PAGE as usize].into_boxed_slice();
                self.read_clean(page * PAGE, &mut fresh)?;
                self.dirty.insert(page, fresh);
            }
            let bytes = self.dirty.get_mut(&page).ok_or_else(|| io::Error::other("page vanished"))?;
            let from = usize::try_from(pos - page * PAGE).map_err(io::Error::other)?;
            let at = usize::try_from(pos - offset).map_err(io::Error::other)?;
            let n = usize::try_from(page_end - pos).map_err(io::Error::other)?;
            bytes[from..from + n].copy_from_slice(&data[at..at + n]);
            pos = page_end;
        }
        self.size = self.size.max(end);
        self.written.insert(offset, end);
        Ok(())
    }

    /// Sets the size, in memory only: what is cut off is gone, what is added reads as zeros.
    pub fn truncate(&mut self, size: u64) {
        if size < self.size {
            let _ = self.dirty.split_off(&size.div_ceil(PAGE));
            let within = usize::try_from(size % PAGE).unwrap_or(0);
            if within != 0
                && let Some(bytes) = self.dirty.get_mut(&(size / PAGE))
            {
                bytes[within..].fill(0);
            }
            self.valid_len = self.valid_len.min(size);
            self.written.clip(size);
        }
        self.size = size;
    }

    /// Moves every byte still read from the backing file into memory, so that the backing file
    /// can be replaced.
    pub fn materialize(&mut self) -> io::Result<()> {
        let pages = self.valid_len.div_ceil(PAGE);
        for page in 0..pages {
            if !self.dirty.contains_key(&page) {
                let mut fresh = vec![0; PAGE as usize].into_boxed_slice();
                self.read_clean(page * PAGE, &mut fresh)?;
                self.dirty.insert(page, fresh);
            }
        }
        self.valid_len = 0;
        Ok(())
    }

    /// Gives the file a new, empty backing file (its content stays in memory until an fsync).
    pub fn rebind(&mut self, backing: File) -> io::Result<()> {
        if self.backing.is_some() {
            self.materialize()?;
        }
        self.backing = Some(backing);
        self.backing_len = 0;
        self.valid_len = 0;
        Ok(())
    }

    /// fsync: writes the pages and the size into the backing file. Without a backing file (the
    /// file never had a durable name) there is nowhere to write, and nothing changes.
    pub fn sync(&mut self) -> io::Result<()> {
        let Some(backing) = &self.backing else {
            return Ok(());
        };
        // Stale bytes past a truncation go first, so that what the pages do not cover reads as
        // zeros once the file is extended again.
        let mut len = self.backing_len;
        if self.valid_len < len {
            backing.set_len(self.valid_len)?;
            len = self.valid_len;
        }
        for (&page, bytes) in &self.dirty {
            let start = page * PAGE;
            if start >= self.size {
                continue;
            }
            let n = (self.size - start).min(PAGE);
            backing.write_all_at(&bytes[..usize::try_from(n).map_err(io::Error::other)?], start)?;
            len = len.max(start + n);
        }
        if len != self.size {
            backing.set_len(self.size)?;
        }
        self.backing_len = self.size;
        self.valid_len = self.size;
        self.dirty.clear();
        self.written.clear();
        Ok(())
    }

    /// On a cut with torn writes: writes the current bytes of `[start, end)` into the backing
    /// file, as a disk may have written some un-synced data before the power went.
    pub fn leak(&self, start: u64, end: u64) -> io::Result<u64> {
        let end = end.min(self.size);
        if start >= end {
            return Ok(0);
        }
        let Some(backing) = &self.backing else {
            return Ok(0);
        };
        let bytes = self.read(start, end - start)?;
        backing.write_all_at(&bytes, start)?;
        Ok(bytes.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backed(bytes: &[u8]) -> (tempfile_like::Dir, Content) {
        let dir = tempfile_like::Dir::new();
        let path = dir.0.join("f");
        std::fs::write(&path, bytes).unwrap();
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        (dir, Content::backed(file).unwrap())
    }

    /// A scratch directory removed on drop (no dependency for so little).
    mod tempfile_like {
        use std::path::PathBuf;
        use std::sync::atomic::{AtomicU32, Ordering};

        pub struct Dir(pub PathBuf);

        static NEXT: AtomicU32 = AtomicU32::new(0);

        impl Dir {
            pub fn new() -> Self {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let path = std::env::temp_dir().join(format!("powercut-pages-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&path).unwrap();
                Self(path)
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn ranges_merge_and_clip() {
        let mut r = Ranges::default();
        r.insert(10, 20);
        r.insert(30, 40);
        r.insert(20, 25);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(10, 25), (30, 40)]);
        r.insert(5, 35);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(5, 40)]);
        r.clip(12);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(5, 12)]);
        r.clip(3);
        assert!(r.is_empty());
    }

    #[test]
    fn writes_stay_in_memory_until_sync() {
        let (dir, mut c) = backed(&[1u8; 10_000]);
        c.write(4_090, &[2u8; 20]).unwrap();
        assert_eq!(std::fs::read(dir.0.join("f")).unwrap(), vec![1u8; 10_000]);
        let seen = c.read(4_080, 40).unwrap();
        assert_eq!(&seen[..10], &[1u8; 10]);
        assert_eq!(&seen[10..30], &[2u8; 20]);
        assert_eq!(&seen[30..], &[1u8; 10]);
        c.sync().unwrap();
        let on_disk = std::fs::read(dir.0.join("f")).unwrap();
        assert_eq!(on_disk.len(), 10_000);
        assert_eq!(&on_disk[4_090..4_110], &[2u8; 20]);
        assert_eq!(on_disk[4_089], 1);
        assert_eq!(on_disk[4_110], 1);
    }

    #[test]
    fn truncate_then_extend_reads_zeros() {
        let (dir, mut c) = backed(&[7u8; 9_000]);
        c.truncate(5_000);
        assert_eq!(c.read(0, 10_000).unwrap().len(), 5_000);
        c.truncate(9_000);
        let seen = c.read(0, 10_000).unwrap();
        assert_eq!(&seen[..5_000], &vec![7u8; 5_000][..]);
        assert!(seen[5_000..].iter().all(|b| *b == 0));
        assert_eq!(std::fs::read(dir.0.join("f")).unwrap(), vec![7u8; 9_000]);
        c.sync().unwrap();
        assert_eq!(std::fs::read(dir.0.join("f")).unwrap(), seen);
    }

    #[test]
    fn a_dirty_page_cut_by_truncate_loses_its_tail() {
        let (_dir, mut c) = backed(&[]);
        c.write(0, &[3u8; 4_096]).unwrap();
        c.truncate(100);
        c.truncate(4_096);
        let seen = c.read(0, 4_096).unwrap();
        assert!(seen[..100].iter().all(|b| *b == 3));
        assert!(seen[100..].iter().all(|b| *b == 0));
    }

    #[test]
    fn materialize_keeps_content_when_backing_changes() {
        let (dir, mut c) = backed(b"hello world");
        c.write(0, b"J").unwrap();
        let other = std::fs::File::create(dir.0.join("g")).unwrap();
        c.rebind(other).unwrap();
        assert_eq!(c.read(0, 100).unwrap(), b"Jello world");
        c.sync().unwrap();
        assert_eq!(std::fs::read(dir.0.join("g")).unwrap(), b"Jello world");
        assert_eq!(std::fs::read(dir.0.join("f")).unwrap(), b"hello world");
    }
}
