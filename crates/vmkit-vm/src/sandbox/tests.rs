use super::walk::{prepend, Pos, OPENAT2};
use super::*;
use rustix::fs::{self as rfs, Mode, OFlags};
use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::os::unix::fs::symlink;
use std::sync::atomic::Ordering;

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

/// A temporary tree: `inside/` (with `a.txt`, `sub/`) and `outside/` (with `secret`).
struct Tree(PathBuf);
impl Tree {
    fn new(tag: &str) -> Tree {
        let dir =
            std::env::temp_dir().join(format!("vmkit-vm-sandbox-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("inside/sub")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        std::fs::write(dir.join("inside/a.txt"), b"a").unwrap();
        std::fs::write(dir.join("outside/secret"), b"s").unwrap();
        Tree(std::fs::canonicalize(&dir).unwrap())
    }
    fn inside(&self) -> PathBuf {
        self.0.join("inside")
    }
}
impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The host path and existence a resolution led to.
fn host(r: Result<Resolved, PathError>) -> Result<(PathBuf, bool), PathError> {
    match r? {
        Resolved::Host(e) => Ok((e.host().to_path_buf(), e.exists())),
        other => panic!("not a host object: {other:?}"),
    }
}

fn entry(r: Result<Resolved, PathError>) -> HostEntry {
    match r {
        Ok(Resolved::Host(e)) => e,
        other => panic!("not a host object: {other:?}"),
    }
}

const ELOOP: PathError = PathError::Host(40);
const ENOENT: PathError = PathError::Host(2);
const ENOTDIR: PathError = PathError::Host(20);

#[test]
fn normalization_is_lexical_and_stays_below_root() {
    assert_eq!(normalize(&p("/a/b"), b"c/./d"), p("/a/b/c/d"));
    assert_eq!(normalize(&p("/a/b"), b"../../../../etc"), p("/etc"));
    assert_eq!(normalize(&p("/a/b"), b"/x//y/"), p("/x/y"));
    assert_eq!(normalize(&p("/a"), b".."), p("/"));
    assert_eq!(normalize(&p("/"), b"."), p("/"));
    assert_eq!(normalize(&p("/a"), b""), p("/a"));
}

#[test]
fn mounts_map_guest_paths_and_dotdot_cannot_leave() {
    let t = Tree::new("mount");
    let s = Sandbox::new().mount(t.inside(), Some("/data")).unwrap();
    assert_eq!(
        host(s.resolve(&p("/data/a.txt"), true)),
        Ok((t.0.join("inside/a.txt"), true))
    );
    let g = normalize(&p("/data"), b"../outside/secret");
    assert_eq!(host(s.resolve(&g, true)), Err(PathError::Outside));
    assert!(matches!(s.resolve(&p("/"), true), Ok(Resolved::Virtual)));
    assert_eq!(
        s.children_of_virtual(&p("/")),
        vec![b"data".to_vec(), b"dev".to_vec()]
    );
    assert_eq!(
        host(s.resolve(&p("/data/missing"), true)),
        Ok((t.0.join("inside/missing"), false))
    );
    assert_eq!(host(s.resolve(&p("/data/missing/x"), true)), Err(ENOENT));
    assert_eq!(host(s.resolve(&p("/data/a.txt/x"), true)), Err(ENOTDIR));
    assert!(matches!(
        s.resolve(&p("/dev/null"), true),
        Ok(Resolved::Device(Device::Null))
    ));
    let root = entry(s.resolve(&p("/data"), true));
    assert_eq!(root.host(), t.inside());
    assert!(root.metadata().unwrap().is_dir());
    // Without devices, /dev/null is just a path (here outside every mount).
    let plain = s.clone().without_devices();
    assert_eq!(
        host(plain.resolve(&p("/dev/null"), true)),
        Err(PathError::Outside)
    );
}

#[test]
fn symlinks_must_stay_inside_the_mounts() {
    let t = Tree::new("links");
    let inside = t.inside();
    symlink(t.0.join("outside/secret"), inside.join("escape")).unwrap();
    symlink(t.0.join("outside"), inside.join("escape_dir")).unwrap();
    symlink("../outside/secret", inside.join("rel_escape")).unwrap();
    symlink("sub", inside.join("ok")).unwrap();
    symlink(inside.join("a.txt"), inside.join("sub/abs_ok")).unwrap();
    symlink("../a.txt", inside.join("sub/up_ok")).unwrap();
    let s = Sandbox::new().mount(&inside, None).unwrap();
    let g = |rel: &str| inside.join(rel);
    assert_eq!(host(s.resolve(&g("escape"), true)), Err(PathError::Outside));
    assert_eq!(
        host(s.resolve(&g("rel_escape"), true)),
        Err(PathError::Outside)
    );
    // A link in an intermediate component is followed and checked too.
    assert_eq!(
        host(s.resolve(&g("escape_dir/secret"), true)),
        Err(PathError::Outside)
    );
    assert_eq!(
        host(s.resolve(&g("escape_dir/new"), false)),
        Err(PathError::Outside)
    );
    // Not following the final link (lstat, readlink, unlink) is fine: the link is inside.
    assert_eq!(
        host(s.resolve(&g("escape"), false)),
        Ok((g("escape"), true))
    );
    assert_eq!(host(s.resolve(&g("ok"), true)), Ok((g("sub"), true)));
    assert_eq!(
        host(s.resolve(&g("ok/up_ok"), true)),
        Ok((g("a.txt"), true))
    );
    assert_eq!(
        host(s.resolve(&g("sub/abs_ok"), true)),
        Ok((g("a.txt"), true))
    );
    // `..` in a link target is physical: ok/.. is the parent of sub, i.e. inside.
    symlink("ok/..", inside.join("dotdot")).unwrap();
    assert_eq!(
        host(s.resolve(&g("dotdot/a.txt"), true)),
        Ok((g("a.txt"), true))
    );
    // A link into another mount is allowed.
    let both = s.clone().mount(t.0.join("outside"), Some("/o")).unwrap();
    assert_eq!(
        host(both.resolve(&g("escape"), true)),
        Ok((t.0.join("outside/secret"), true))
    );
    assert_eq!(
        host(both.resolve(&g("rel_escape"), true)),
        Ok((t.0.join("outside/secret"), true))
    );
}

#[test]
fn a_dangling_link_cannot_create_outside() {
    let t = Tree::new("dangling");
    let inside = t.inside();
    symlink(t.0.join("outside/created"), inside.join("dangling")).unwrap();
    symlink("../outside/created2", inside.join("dangling_rel")).unwrap();
    let s = Sandbox::new()
        .mount(&inside, None)
        .unwrap()
        .allow_write(&inside)
        .unwrap();
    for name in ["dangling", "dangling_rel"] {
        assert_eq!(
            host(s.resolve(&inside.join(name), true)),
            Err(PathError::Outside),
            "{name}"
        );
        // Resolved without following (O_CREAT|O_EXCL), the link itself exists: creating
        // through it fails at the open, which does not follow it either.
        let e = entry(s.resolve(&inside.join(name), false));
        assert!(e.exists());
        let err = e
            .open(&OpenHow {
                write: true,
                create: Some(0o644),
                ..OpenHow::default()
            })
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(17), "{name}: EEXIST");
    }
    assert!(!t.0.join("outside/created").exists());
    assert!(!t.0.join("outside/created2").exists());
}

#[test]
fn link_loops_and_chains_stop_at_forty() {
    let t = Tree::new("loops");
    let inside = t.inside();
    symlink("loop_b", inside.join("loop_a")).unwrap();
    symlink("loop_a", inside.join("loop_b")).unwrap();
    symlink("self", inside.join("self")).unwrap();
    // chain0 -> chain1 -> ... -> chain40 -> a.txt: 41 links from chain0, 40 from chain1.
    for i in 0..=40 {
        let target = if i == 40 {
            "a.txt".to_string()
        } else {
            format!("chain{}", i + 1)
        };
        symlink(target, inside.join(format!("chain{i}"))).unwrap();
    }
    let s = Sandbox::new().mount(&inside, None).unwrap();
    assert_eq!(host(s.resolve(&inside.join("loop_a"), true)), Err(ELOOP));
    assert_eq!(host(s.resolve(&inside.join("self/x"), true)), Err(ELOOP));
    assert_eq!(host(s.resolve(&inside.join("chain0"), true)), Err(ELOOP));
    assert_eq!(
        host(s.resolve(&inside.join("chain1"), true)),
        Ok((inside.join("a.txt"), true))
    );
    // The host agrees: Linux follows 40 links and refuses the 41st.
    assert!(std::fs::metadata(inside.join("chain1")).is_ok());
    assert_eq!(
        std::fs::metadata(inside.join("chain0"))
            .unwrap_err()
            .raw_os_error(),
        Some(40)
    );
}

#[test]
fn a_link_swapped_in_after_the_walk_is_not_followed() {
    let t = Tree::new("race");
    let inside = t.inside();
    let s = Sandbox::new()
        .mount(&inside, None)
        .unwrap()
        .allow_write(&inside)
        .unwrap();
    let e = entry(s.resolve(&inside.join("sub/new"), true));
    assert!(!e.exists());
    // A host process replaces the checked directory by a link to outside.
    std::fs::rename(inside.join("sub"), inside.join("sub_old")).unwrap();
    symlink(t.0.join("outside"), inside.join("sub")).unwrap();
    // The walk holds the old directory: the file lands there, not outside.
    e.open(&OpenHow {
        write: true,
        create: Some(0o644),
        ..OpenHow::default()
    })
    .unwrap();
    assert!(inside.join("sub_old/new").exists());
    assert!(!t.0.join("outside/new").exists());
    // And a final name swapped for a link gives ELOOP instead of following it.
    let a = entry(s.resolve(&inside.join("a.txt"), true));
    std::fs::remove_file(inside.join("a.txt")).unwrap();
    symlink(t.0.join("outside/secret"), inside.join("a.txt")).unwrap();
    let err = a
        .open(&OpenHow {
            read: true,
            ..OpenHow::default()
        })
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(40));
    assert_eq!(a.set_mode(0o600).unwrap_err().raw_os_error(), Some(95));
    assert!(a.set_len(0).is_err());
    assert_eq!(std::fs::read(t.0.join("outside/secret")).unwrap(), b"s");
}

#[test]
fn fifos_and_sockets_do_not_block_the_open() {
    let t = Tree::new("fifo");
    let inside = t.inside();
    let fifo = inside.join("fifo");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("mkfifo unavailable; skipped");
        return;
    }
    let s = Sandbox::new().mount(&inside, None).unwrap();
    let e = entry(s.resolve(&fifo, true));
    // No writer: a blocking open would wait forever. Reading gives end of file at once.
    let mut f = e
        .open(&OpenHow {
            read: true,
            ..OpenHow::default()
        })
        .unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(std::io::Read::read(&mut f, &mut buf).unwrap(), 0);
    drop(f);
    // No reader: writing gives ENXIO, as a non-blocking open does on Linux.
    let err = e
        .open(&OpenHow {
            write: true,
            ..OpenHow::default()
        })
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(6));
    let sock = inside.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let e = entry(s.resolve(&sock, true));
    let err = e
        .open(&OpenHow {
            read: true,
            ..OpenHow::default()
        })
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(6));
}

#[test]
fn writing_needs_an_allowed_directory_and_spares_the_directory_itself() {
    let t = Tree::new("write");
    let s = Sandbox::new()
        .mount(&t.0, None)
        .unwrap()
        .allow_write(t.inside())
        .unwrap();
    assert!(s.check_write_entry(&t.0.join("inside/new")).is_ok());
    assert!(s.check_write_object(&t.0.join("inside/a.txt")).is_ok());
    assert!(s.check_write_in(&t.inside()).is_ok());
    assert_eq!(
        s.check_write_entry(&t.0.join("outside/new")),
        Err(PathError::ReadOnly)
    );
    // The allowed directory itself cannot be removed, renamed, chmod-ed or touched.
    assert_eq!(s.check_write_entry(&t.inside()), Err(PathError::ReadOnly));
    assert_eq!(s.check_write_object(&t.inside()), Err(PathError::ReadOnly));
    assert!(matches!(
        Sandbox::new().allow_write(&t.0),
        Err(SandboxError::NotVisible(_))
    ));
    assert!(matches!(
        s.clone().allow_write(t.0.join("inside/a.txt")),
        Err(SandboxError::NotADirectory(_))
    ));
    assert!(matches!(
        Sandbox::new().mount(&t.0, Some("rel")),
        Err(SandboxError::RelativeGuestPath(_))
    ));
}

#[test]
fn host_fs_and_file_mounts_and_host_made_links() {
    let t = Tree::new("hostfs");
    let s = Sandbox::new().host_fs();
    assert_eq!(
        host(s.resolve(&t.0.join("outside/secret"), true)),
        Ok((t.0.join("outside/secret"), true))
    );
    let f = Sandbox::new()
        .mount(t.0.join("inside/a.txt"), Some("/etc/a"))
        .unwrap();
    let a = entry(f.resolve(&p("/etc/a"), true));
    assert_eq!(a.host(), t.0.join("inside/a.txt"));
    assert_eq!(
        std::fs::read_to_string(t.0.join("inside/a.txt")).unwrap(),
        "a"
    );
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut a
            .open(&OpenHow {
                read: true,
                ..OpenHow::default()
            })
            .unwrap(),
        &mut text,
    )
    .unwrap();
    assert_eq!(text, "a");
    assert_eq!(host(f.resolve(&p("/etc/a/x"), true)), Err(ENOTDIR));
    assert_eq!(host(f.resolve(&p("/etc/b"), true)), Err(PathError::Outside));
    assert!(matches!(f.resolve(&p("/etc"), true), Ok(Resolved::Virtual)));
    // A link the host made outside every mount (as /home -> /var/home) leads back in.
    let alias = t.0.join("alias");
    symlink(t.inside(), &alias).unwrap();
    let m = Sandbox::new().mount(t.inside(), None).unwrap();
    symlink(alias.join("a.txt"), t.0.join("inside/via_alias")).unwrap();
    assert_eq!(
        host(m.resolve(&t.0.join("inside/via_alias"), true)),
        Ok((t.0.join("inside/a.txt"), true))
    );
}

#[test]
fn hints_name_the_path_and_the_flag() {
    let t = Tree::new("hint");
    let s = Sandbox::new().mount(&t.0, None).unwrap();
    let h = s
        .hint(&t.0.join("inside/new"), PathError::ReadOnly, true)
        .unwrap();
    assert!(
        h.contains(&format!("--allow-write {}", t.0.join("inside").display())),
        "{h}"
    );
    let h = s
        .hint(&p("/elsewhere/f"), PathError::Outside, false)
        .unwrap();
    assert!(h.contains("--mount /elsewhere"), "{h}");
    assert_eq!(s.hint(&p("/x"), ENOENT, false), None);
}

#[test]
fn the_openat2_shortcut_and_the_walk_agree() {
    let t = Tree::new("agree");
    let inside = t.inside();
    std::fs::create_dir_all(inside.join("sub/deeper")).unwrap();
    std::fs::write(inside.join("sub/deeper/f"), "f").unwrap();
    symlink("sub", inside.join("ok")).unwrap();
    symlink(t.0.join("outside"), inside.join("sub/out")).unwrap();
    symlink("deeper/f", inside.join("sub/to_f")).unwrap();
    let s = Sandbox::new().mount(&inside, Some("/m")).unwrap();
    let mount = &s.mounts()[0];
    let anchor = mount.anchor().unwrap();
    let walk = |rest: &str, follow: bool| {
        let mut queue = VecDeque::new();
        prepend(&mut queue, Path::new(rest));
        let start = Pos::In(vec![(anchor.dir.clone(), mount.host.clone())]);
        host(s.walk(start, queue, follow))
    };
    let paths = [
        "a.txt",
        "missing",
        "sub/deeper/f",
        "sub/deeper/none",
        "sub/none/x",
        "a.txt/x",
        "ok/deeper/f",
        "sub/out",
        "sub/out/secret",
        "sub/to_f",
        "sub/deeper",
    ];
    for rest in paths {
        for follow in [true, false] {
            let guest = Path::new("/m").join(rest);
            assert_eq!(
                host(s.resolve(&guest, follow)),
                walk(rest, follow),
                "{rest} follow={follow}"
            );
        }
    }
    // The kernel here has openat2, so the shortcut is what ran for the plain paths.
    let fd = rfs::openat2(
        anchor.dir.as_fd(),
        "sub/deeper",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        rfs::ResolveFlags::BENEATH | rfs::ResolveFlags::NO_SYMLINKS,
    );
    if fd.is_ok() {
        assert!(OPENAT2.load(Ordering::Relaxed));
    }
}

#[test]
fn a_root_reads_links_as_a_chroot_does() {
    let t = Tree::new("root");
    let root = t.inside();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("mnt")).unwrap();
    std::fs::write(root.join("etc/passwd"), b"root's").unwrap();
    // Absolute targets start again from the root; `..` stops there.
    symlink("/etc/passwd", root.join("abs")).unwrap();
    symlink(t.0.join("outside/secret"), root.join("host_abs")).unwrap();
    symlink("../../../../../../../etc/passwd", root.join("sub/rel")).unwrap();
    symlink("/sub/../etc", root.join("etc_link")).unwrap();
    symlink("loop", root.join("loop")).unwrap();
    let s = Sandbox::root(&root)
        .unwrap()
        .mount(t.0.join("outside"), Some("/mnt"))
        .unwrap();
    assert!(s.is_root());
    let passwd = Ok((root.join("etc/passwd"), true));
    assert_eq!(host(s.resolve(&p("/abs"), true)), passwd);
    assert_eq!(host(s.resolve(&p("/sub/rel"), true)), passwd);
    assert_eq!(host(s.resolve(&p("/etc_link/passwd"), true)), passwd);
    // A host path named by a link is a path inside the root, where it does not exist.
    assert_eq!(host(s.resolve(&p("/host_abs"), true)), Err(ENOENT));
    // Without following, the link itself.
    assert_eq!(
        host(s.resolve(&p("/abs"), false)),
        Ok((root.join("abs"), true))
    );
    assert_eq!(host(s.resolve(&p("/loop"), true)), Err(ELOOP));
    // A mount inside the root shadows its directory, and `..` from it comes back.
    assert_eq!(
        host(s.resolve(&p("/mnt/secret"), true)),
        Ok((t.0.join("outside/secret"), true))
    );
    symlink("../../mnt/secret", root.join("sub/to_mnt")).unwrap();
    assert_eq!(
        host(s.resolve(&p("/sub/to_mnt"), true)),
        Ok((t.0.join("outside/secret"), true))
    );
    // The root's directory is the guest's `/`; devices are still served, not listed.
    assert_eq!(host(s.resolve(&p("/"), true)), Ok((root.clone(), true)));
    assert!(matches!(
        s.resolve(&p("/dev/null"), true),
        Ok(Resolved::Device(Device::Null))
    ));
    assert!(s.children_of_virtual(&p("/")).contains(&b"mnt".to_vec()));
    assert!(!s.children_of_virtual(&p("/")).contains(&b"dev".to_vec()));
}

#[test]
fn the_host_libraries_are_mounted_at_their_own_paths() {
    let s = Sandbox::new().host_i386_libraries();
    for m in s.mounts() {
        assert!(HOST_I386_LIBRARIES.iter().any(|l| m.guest == p(l)), "{m:?}");
    }
    for lib in HOST_I386_LIBRARIES {
        let exists = std::fs::metadata(lib).is_ok();
        assert_eq!(
            s.mounts().iter().any(|m| m.guest == p(lib)),
            exists,
            "{lib}"
        );
    }
    assert!(Sandbox::root("/no/such/dir/for/vmkit").is_err());
}
