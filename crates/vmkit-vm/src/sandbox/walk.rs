//! Step 3 of a resolution (see the module documentation of [`super`]): from a mount's
//! anchor descriptor to a [`HostEntry`], one component at a time (the walk), or in one
//! `openat2` call when no link is on the way (the fast path).

use super::{Device, HostEntry, PathError, Sandbox, DEVICES, MAX_SYMLINKS};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Where a guest path leads.
#[derive(Clone, Debug)]
pub enum Resolved {
    /// A host file system object (which may not exist yet).
    Host(HostEntry),
    /// A directory above some mount point, listing only the way to the mounts.
    Virtual,
    /// A device served by the sandbox.
    Device(Device),
}

/// Where a mount's walk starts: a directory descriptor opened when the mount was made, and
/// for a file mount the file's name in it.
#[derive(Clone, Debug)]
pub(super) struct Anchor {
    pub(super) dir: Arc<OwnedFd>,
    /// `Some` for a file mount: the file's name in `dir`.
    pub(super) file: Option<OsString>,
}

impl Anchor {
    /// Opens the canonical host path `host`. The guest has not run yet, so nothing can race.
    pub(super) fn open(host: &Path) -> io::Result<Anchor> {
        let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if std::fs::metadata(host)?.is_dir() {
            let dir = rfs::open(host, dir_flags, Mode::empty())?;
            return Ok(Anchor {
                dir: Arc::new(dir),
                file: None,
            });
        }
        let parent = host.parent().unwrap_or(Path::new("/"));
        let name = host.file_name().unwrap_or_default().to_os_string();
        let dir = rfs::open(parent, dir_flags, Mode::empty())?;
        Ok(Anchor {
            dir: Arc::new(dir),
            file: Some(name),
        })
    }
}

/// Whether `openat2` may be tried (cleared when the kernel lacks it, before Linux 5.6).
pub(super) static OPENAT2: AtomicBool = AtomicBool::new(true);

/// The common case in one system call: when no component of the guest path `rest` below a
/// directory mount is a symbolic link (except a final one that is not to be followed), the
/// parent directory is opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` from the
/// mount's descriptor, and the entry is the walk's answer. `None` hands the path to the
/// walk: a link on the way, a missing directory, an old kernel, a rename race (`EAGAIN`). The
/// walk decides every error, so both ways give the same results.
fn direct(
    anchor: &Anchor,
    host: &Path,
    rest: &Path,
    follow: bool,
) -> Option<Result<Resolved, PathError>> {
    let name = rest.file_name()?;
    let parent = rest.parent()?;
    let dir = if parent.as_os_str().is_empty() {
        anchor.dir.clone()
    } else {
        if !OPENAT2.load(Ordering::Relaxed) {
            return None;
        }
        let resolve = rfs::ResolveFlags::BENEATH
            | rfs::ResolveFlags::NO_SYMLINKS
            | rfs::ResolveFlags::NO_MAGICLINKS;
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rfs::openat2(anchor.dir.as_fd(), parent, flags, Mode::empty(), resolve) {
            Ok(fd) => Arc::new(fd),
            Err(Errno::NOSYS) => {
                OPENAT2.store(false, Ordering::Relaxed);
                return None;
            }
            Err(_) => return None,
        }
    };
    let exists = match rfs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if follow && FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
            return None
        }
        Ok(_) => true,
        Err(Errno::NOENT) => false,
        Err(_) => return None,
    };
    Some(Ok(Resolved::Host(HostEntry {
        dir,
        name: name.to_os_string(),
        host: host.join(rest),
        exists,
    })))
}

/// Where a walk stands.
pub(super) enum Pos {
    /// Inside a mount: the directories entered, each with its host path. Never empty.
    In(Vec<(Arc<OwnedFd>, PathBuf)>),
    /// At a canonical host directory outside every mount (only on the way to one, or after
    /// a link or `..` led out).
    Outside(PathBuf),
}

/// The components of a link target or a path below a mount, for the walk's queue.
fn components(path: &Path) -> impl DoubleEndedIterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    })
}

/// Puts `path`'s components in front of the walk's queue.
pub(super) fn prepend(queue: &mut VecDeque<OsString>, path: &Path) {
    for c in components(path).rev() {
        queue.push_front(c);
    }
}

impl Sandbox {
    /// Where the normalized guest path `guest` leads. With `follow`, a final symbolic link is
    /// followed (as `open` and `stat` do); without, it is the object itself (`lstat`).
    pub fn resolve(&self, guest: &Path, follow: bool) -> Result<Resolved, PathError> {
        if self.devices {
            if let Some((_, dev)) = DEVICES.iter().find(|(p, _)| Path::new(p) == guest) {
                return Ok(Resolved::Device(*dev));
            }
        }
        let Some(mount) = self.mount_of(guest) else {
            if !self.children_of_virtual(guest).is_empty() {
                return Ok(Resolved::Virtual);
            }
            return Err(PathError::Outside);
        };
        let rest = guest.strip_prefix(&mount.guest).unwrap_or(Path::new(""));
        let mut queue = VecDeque::new();
        prepend(&mut queue, rest);
        let anchor = mount.anchor()?;
        if let Some(name) = &anchor.file {
            return self.file_mount(anchor, name, &mount.host, queue.is_empty());
        }
        if let Some(done) = direct(anchor, &mount.host, rest, follow) {
            return done;
        }
        if self.chroot {
            let mut queue = VecDeque::new();
            prepend(&mut queue, guest);
            return self.walk_guest(queue, follow);
        }
        let start = Pos::In(vec![(anchor.dir.clone(), mount.host.clone())]);
        self.walk(start, queue, follow)
    }

    /// The walk of a sandbox with a root ([`Sandbox::root`]), where links mean what they
    /// mean in a chroot: `queue` (a guest path's components) is walked from the guest's `/`
    /// with the chain of directories entered kept as a stack, so `..` goes back to the
    /// directory it came from (and stays at `/` there), an absolute link target starts
    /// again from the guest's `/`, and a mount point shadows the directory it covers.
    /// Host paths are never walked, so nothing outside the mounts can be reached.
    fn walk_guest(
        &self,
        mut queue: VecDeque<OsString>,
        follow: bool,
    ) -> Result<Resolved, PathError> {
        let root = self
            .mounts
            .iter()
            .find(|m| m.guest == Path::new("/"))
            .ok_or(PathError::Outside)?;
        let anchor = root.anchor()?;
        // (directory, its host path, its guest path), from the guest's `/` down.
        let mut stack: Vec<(Arc<OwnedFd>, PathBuf, PathBuf)> =
            vec![(anchor.dir.clone(), root.host.clone(), PathBuf::from("/"))];
        let mut links = 0u32;
        while let Some(c) = queue.pop_front() {
            let last = queue.is_empty();
            if c == ".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            let Some((dir, host, guest)) = stack.last().cloned() else {
                return Err(PathError::Outside);
            };
            let next = guest.join(&c);
            if last && self.devices {
                if let Some((_, dev)) = DEVICES.iter().find(|(p, _)| Path::new(p) == next) {
                    return Ok(Resolved::Device(*dev));
                }
            }
            if let Some(m) = self.mounts.iter().find(|m| m.guest == next) {
                let anchor = m.anchor()?;
                if let Some(name) = &anchor.file {
                    return self.file_mount(anchor, name, &m.host, last);
                }
                stack.push((anchor.dir.clone(), m.host.clone(), next));
                continue;
            }
            match step(dir, &host, c, last, follow)? {
                Step::End(entry) => return Ok(entry),
                Step::Link(target) => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(Errno::LOOP.into());
                    }
                    prepend(&mut queue, &target);
                    if target.is_absolute() {
                        stack.truncate(1);
                    }
                }
                Step::Into(sub, sub_host) => stack.push((sub, sub_host, next)),
            }
        }
        match stack.pop() {
            Some((dir, host, _)) => Ok(Resolved::Host(HostEntry {
                dir,
                name: OsString::from("."),
                host,
                exists: true,
            })),
            None => Err(PathError::Outside),
        }
    }

    /// The entry for a file mount reached with `rest_is_empty` (anything after a file is
    /// `ENOTDIR`, as on Linux).
    fn file_mount(
        &self,
        anchor: &Anchor,
        name: &OsStr,
        host: &Path,
        rest_is_empty: bool,
    ) -> Result<Resolved, PathError> {
        if !rest_is_empty {
            return Err(Errno::NOTDIR.into());
        }
        let exists = match rfs::statat(anchor.dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => true,
            Err(Errno::NOENT) => false,
            Err(e) => return Err(e.into()),
        };
        Ok(Resolved::Host(HostEntry {
            dir: anchor.dir.clone(),
            name: name.to_os_string(),
            host: host.to_path_buf(),
            exists,
        }))
    }

    /// Walks `queue` from `pos` (see the module documentation).
    pub(super) fn walk(
        &self,
        mut pos: Pos,
        mut queue: VecDeque<OsString>,
        follow: bool,
    ) -> Result<Resolved, PathError> {
        let mut links = 0u32;
        let mut follow_link = |queue: &mut VecDeque<OsString>, target: &Path| {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(PathError::from(Errno::LOOP));
            }
            prepend(queue, target);
            Ok(())
        };
        loop {
            // Outside the mounts, the walk enters one as soon as its host path does.
            if let Pos::Outside(cur) = &pos {
                if let Some(m) = self.mount_holding(cur) {
                    let anchor = m.anchor()?;
                    let rest = cur.strip_prefix(&m.host).unwrap_or(Path::new(""));
                    if let Some(name) = &anchor.file {
                        return self.file_mount(anchor, name, &m.host, queue.is_empty());
                    }
                    prepend(&mut queue, rest);
                    pos = Pos::In(vec![(anchor.dir.clone(), m.host.clone())]);
                }
            }
            let Some(c) = queue.pop_front() else { break };
            let last = queue.is_empty();
            match &mut pos {
                Pos::Outside(cur) => {
                    if c == ".." {
                        cur.pop();
                        continue;
                    }
                    let next = cur.join(&c);
                    if self.mounts.iter().any(|m| m.host.starts_with(&next)) {
                        *cur = next;
                        continue;
                    }
                    // Not on the way to a mount. The guest cannot write here, so a link
                    // here was made on the host (`/home -> /var/home`): follow it.
                    let target = match std::fs::symlink_metadata(&next) {
                        Ok(m) if m.file_type().is_symlink() => std::fs::read_link(&next)?,
                        _ => return Err(PathError::Outside),
                    };
                    follow_link(&mut queue, &target)?;
                    if target.is_absolute() {
                        *cur = PathBuf::from("/");
                    }
                }
                Pos::In(stack) => {
                    let Some((dir, host)) = stack.last().cloned() else {
                        return Err(PathError::Outside);
                    };
                    if c == ".." {
                        if stack.len() > 1 {
                            stack.pop();
                        } else {
                            let up = host.parent().unwrap_or(Path::new("/")).to_path_buf();
                            pos = Pos::Outside(up);
                        }
                        continue;
                    }
                    match step(dir, &host, c, last, follow)? {
                        Step::End(entry) => return Ok(entry),
                        Step::Link(target) => {
                            follow_link(&mut queue, &target)?;
                            if target.is_absolute() {
                                pos = Pos::Outside(PathBuf::from("/"));
                            }
                        }
                        Step::Into(sub, sub_host) => stack.push((sub, sub_host)),
                    }
                }
            }
        }
        // The path ended at a directory: a mount's root, or a link target ending in `..`.
        match pos {
            Pos::In(mut stack) => match stack.pop() {
                Some((dir, host)) => Ok(Resolved::Host(HostEntry {
                    dir,
                    name: OsString::from("."),
                    host,
                    exists: true,
                })),
                None => Err(PathError::Outside),
            },
            Pos::Outside(_) => Err(PathError::Outside),
        }
    }
}

/// What one path component `c` is, inside the held host directory `dir` (host path
/// `host`): produced by [`step`] for both walks, which differ only in what a link and a
/// directory do to their position.
enum Step {
    /// The walk ends at this entry (the last component, existing or not).
    End(Resolved),
    /// A link to follow (not the last component, or `follow`): its target.
    Link(PathBuf),
    /// A directory to go into: held open (without following a link swapped in since the
    /// stat: `O_NOFOLLOW` gives ELOOP), and its host path.
    Into(Arc<OwnedFd>, PathBuf),
}

/// One component of a walk: `c` in `dir`, `last` if nothing follows it, links followed
/// when `follow` or when something follows them.
fn step(
    dir: Arc<OwnedFd>,
    host: &Path,
    c: OsString,
    last: bool,
    follow: bool,
) -> Result<Step, PathError> {
    let entry = |dir, c: OsString, exists| {
        Step::End(Resolved::Host(HostEntry {
            host: host.join(&c),
            dir,
            name: c,
            exists,
        }))
    };
    let st = match rfs::statat(dir.as_fd(), c.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) if last => return Ok(entry(dir, c, false)),
        Err(e) => return Err(e.into()),
    };
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind == FileType::Symlink && (follow || !last) {
        let target = rfs::readlinkat(dir.as_fd(), c.as_os_str(), Vec::new())?;
        return Ok(Step::Link(PathBuf::from(OsStr::from_bytes(
            target.as_bytes(),
        ))));
    }
    if last {
        return Ok(entry(dir, c, true));
    }
    if kind != FileType::Directory {
        return Err(Errno::NOTDIR.into());
    }
    let sub = rfs::openat(
        dir.as_fd(),
        c.as_os_str(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(Step::Into(Arc::new(sub), host.join(&c)))
}
