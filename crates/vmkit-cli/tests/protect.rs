//! `vmkit protect` as a user meets it: a protected image runs with the plain program's
//! output, the report says what was protected, and what cannot be protected fails clearly.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn vmkit(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vmkit"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("vmkit runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmkit-protect-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn protects_runs_and_disassembles() {
    let out = temp("fib.vmi");
    let out_s = out.to_str().unwrap();
    let (status, _, err) = vmkit(&[
        "protect",
        "--seed",
        "9",
        "--vms",
        "2",
        "examples/fib.s",
        "-o",
        out_s,
    ]);
    assert_eq!(status, 0, "{err}");
    assert!(err.contains("protected main at 0x1000 in VM 0"), "{err}");
    assert!(
        err.contains("protected fib at") && err.contains("in VM 1"),
        "{err}"
    );
    let (plain_status, plain, _) = vmkit(&["run", "examples/fib.s"]);
    let (status, got, err) = vmkit(&["run", out_s]);
    assert_eq!(
        (status, got.as_str()),
        (plain_status, plain.as_str()),
        "{err}"
    );
    // The VM is native code in the image: the disassembler shows its dispatcher's jump.
    let (status, dis, _) = vmkit(&["dis", out_s]);
    assert_eq!(status, 0);
    assert!(dis.contains(".perms r-x") && dis.contains("jmp r"), "{dis}");
    // W^X holds for protected images.
    let (status, got, err) = vmkit(&["run", "--wx", out_s]);
    assert_eq!(
        (status, got.as_str()),
        (plain_status, plain.as_str()),
        "{err}"
    );
}

#[test]
fn refusals_are_clear() {
    let out = temp("x.vmi");
    let out_s = out.to_str().unwrap();
    let (status, _, err) = vmkit(&["protect", "examples/selfmod.s", "-o", out_s]);
    assert_eq!(status, 1);
    assert!(
        err.contains("nothing to protect") && err.contains("self-modifying"),
        "{err}"
    );
    let (status, _, err) = vmkit(&[
        "protect",
        "--function",
        "nosuch",
        "examples/fib.s",
        "-o",
        out_s,
    ]);
    assert_eq!(status, 1);
    assert!(err.contains("no function named `nosuch`"), "{err}");
    let (status, _, err) = vmkit(&["protect", "--vms", "0", "examples/fib.s", "-o", out_s]);
    assert_eq!(status, 2, "{err}");
    let (status, _, err) = vmkit(&["protect", "examples/no-such-file.s", "-o", out_s]);
    assert_eq!(status, 1);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn devirt_recovers_the_plain_program_and_its_profile() {
    let prot = temp("fib.p.vmi");
    let plain_out = temp("fib.d.vmi");
    let prof = temp("fib.profile");
    let again = temp("fib.again.vmi");
    let [p, d, f, a] = [&prot, &plain_out, &prof, &again].map(|x| x.to_str().unwrap().to_string());
    let (status, _, err) = vmkit(&[
        "protect",
        "--seed",
        "4",
        "--vms",
        "2",
        "examples/fib.s",
        "-o",
        &p,
    ]);
    assert_eq!(status, 0, "{err}");
    let (status, explain, err) = vmkit(&["devirt", &p, "-o", &d, "--explain", "--profile-out", &f]);
    assert_eq!(status, 0, "{err}");
    assert!(err.contains("recovered main at 0x1000 from VM 0"), "{err}");
    assert!(
        err.contains("recovered fib at") && err.contains("from VM 1"),
        "{err}"
    );
    for want in [
        "VM 0: vm_entry",
        "VM 1: vm_entry",
        "dispatch chain (opcode):",
        "entry chain",
        "handler table",
        "VIP runs",
        "function fib at",
        "; ret",
    ] {
        assert!(explain.contains(want), "no `{want}` in\n{explain}");
    }
    let (plain_status, plain, _) = vmkit(&["run", "examples/fib.s"]);
    let (status, got, err) = vmkit(&["run", &d]);
    assert_eq!(
        (status, got.as_str()),
        (plain_status, plain.as_str()),
        "{err}"
    );
    // The recovered profile protects the recovered program again: with the seed of the
    // first build, into the very same image.
    let (status, _, err) = vmkit(&["protect", "--profile", &f, "--seed", "4", &d, "-o", &a]);
    assert_eq!(status, 0, "{err}");
    assert!(
        std::fs::read(&again).unwrap() == std::fs::read(&prot).unwrap(),
        "re-protection gives the protected image byte for byte"
    );
    let (status, got, err) = vmkit(&["run", &a]);
    assert_eq!(
        (status, got.as_str()),
        (plain_status, plain.as_str()),
        "{err}"
    );
}

#[test]
fn devirt_refuses_plain_images_and_bad_profiles_clearly() {
    let (status, _, err) = vmkit(&[
        "devirt",
        "examples/fib.s",
        "-o",
        temp("x.vmi").to_str().unwrap(),
    ]);
    assert_ne!(status, 0);
    assert!(
        err.contains("examples/fib.s: not a protected image"),
        "{err}"
    );
    let bad = temp("bad.profile");
    std::fs::write(&bad, "base 0x5000\nvm 0\nregs vip=r1 vsp=r1 key=q9\n").unwrap();
    let b = bad.to_str().unwrap();
    let (status, _, err) = vmkit(&[
        "protect",
        "--profile",
        b,
        "examples/fib.s",
        "-o",
        temp("y.vmi").to_str().unwrap(),
    ]);
    assert_ne!(status, 0);
    assert!(err.contains(&format!("{b}:3: ")), "{err}");
}

/// A program with an explicit small memory and two functions.
fn small_memory_program() -> PathBuf {
    let src = temp("small.s");
    std::fs::write(
        &src,
        ".memory 32K\nmain:\n    mov r1, sp\n    hcall print_hex\n    call f\n    halt\n\
         f:\n    mov r1, 7\n    hcall print_int\n    ret\n",
    )
    .unwrap();
    src
}

#[test]
fn protect_reports_what_it_changes_and_devirt_restores_the_memory() {
    let src = small_memory_program();
    let s = src.to_str().unwrap();
    let p = temp("small.p.vmi");
    let d = temp("small.d.vmi");
    let [p, d] = [&p, &d].map(|x| x.to_str().unwrap().to_string());
    let (status, _, err) = vmkit(&["protect", "--vms", "5", s, "-o", &p]);
    assert_eq!(status, 0, "{err}");
    assert!(
        err.contains("--vms 5 asked for more VMs than the 2 protected functions: built 2"),
        "{err}"
    );
    assert!(
        err.contains(".memory 0x8000 is too small for the VM: grew it to"),
        "{err}"
    );
    let (status, _, err) = vmkit(&["devirt", &p, "-o", &d]);
    assert_eq!(status, 0, "{err}");
    let (_, plain, _) = vmkit(&["run", s]);
    assert!(plain.starts_with("0x8000"), "{plain}");
    let (status, got, err) = vmkit(&["run", &d]);
    assert_eq!((status, got), (0, plain), "{err}");
    // Protecting the protected image again is refused for what it is.
    let (status, _, err) = vmkit(&["protect", &p, "-o", &d]);
    assert_eq!(status, 1);
    assert!(err.contains("already protected"), "{err}");
}

#[test]
fn dis_shows_the_vm_by_name_and_stripped_images_still_devirtualize() {
    let p = temp("named.vmi");
    let q = temp("stripped.vmi");
    let d = temp("stripped.d.vmi");
    let [p, q, d] = [&p, &q, &d].map(|x| x.to_str().unwrap().to_string());
    let (status, _, err) = vmkit(&["protect", "examples/fib.s", "-o", &p]);
    assert_eq!(status, 0, "{err}");
    let (status, dis, _) = vmkit(&["dis", &p]);
    assert_eq!(status, 0);
    for label in [
        "vm0.vm_entry:",
        "vm0.calc_jmp:",
        "vm0.vm_exit:",
        "vm0.handler_00.",
        "vm0.handler_ff.",
        "jmp vm0.vm_entry",
    ] {
        assert!(dis.contains(label), "no `{label}` in the disassembly");
    }
    let (status, _, err) = vmkit(&["protect", "--strip", "examples/fib.s", "-o", &q]);
    assert_eq!(status, 0, "{err}");
    let (_, dis, _) = vmkit(&["dis", &q]);
    assert!(!dis.contains("vm0."), "--strip names nothing");
    let (status, _, err) = vmkit(&["devirt", &q, "-o", &d]);
    assert_eq!(status, 0, "{err}");
    let (_, plain, _) = vmkit(&["run", "examples/fib.s"]);
    let (status, got, err) = vmkit(&["run", &d]);
    assert_eq!((status, got), (0, plain), "{err}");
    let (_, dis, _) = vmkit(&["dis", &d]);
    assert!(!dis.contains("vm0."), "devirt drops the VM's names");
}

#[test]
fn a_function_only_a_pointer_reaches_is_reported_and_can_be_named() {
    let src = temp("callback.s");
    std::fs::write(
        &src,
        "main:\n    mov r1, 3\n    mov r2, callback\n    call r2\n    hcall print_int\n    halt\n\
         callback:\n    add r1, 1\n    shl r1, 2\n    ret\n",
    )
    .unwrap();
    let s = src.to_str().unwrap();
    let out = temp("callback.vmi");
    let o = out.to_str().unwrap();
    let (status, _, err) = vmkit(&["protect", s, "-o", o]);
    assert_eq!(status, 0, "{err}");
    assert!(
        err.contains("only a pointer reaches it") && err.contains("`--function 0x"),
        "{err}"
    );
    let (status, _, err) = vmkit(&["protect", "--function", "callback", s, "-o", o]);
    assert_eq!(status, 0, "{err}");
    assert!(err.contains("protected callback at"), "{err}");
    let (_, plain, _) = vmkit(&["run", s]);
    let (status, got, err) = vmkit(&["run", o]);
    assert_eq!((status, got), (0, plain), "{err}");
}

#[test]
fn profile_errors_name_the_file_and_the_right_line() {
    let prof = temp("strict.profile");
    let p = prof.to_str().unwrap();
    let good = temp("good.vmi");
    let (status, _, err) = vmkit(&[
        "devirt",
        &{
            let (s, _, e) = vmkit(&["protect", "examples/fib.s", "-o", good.to_str().unwrap()]);
            assert_eq!(s, 0, "{e}");
            good.to_str().unwrap().to_string()
        },
        "-o",
        temp("good.d.vmi").to_str().unwrap(),
        "--profile-out",
        p,
    ]);
    assert_eq!(status, 0, "{err}");
    let text = std::fs::read_to_string(&prof).unwrap();
    let line = text.lines().position(|l| l.starts_with("entry")).unwrap() + 1;
    let edited: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("entry") {
                "entry ror 99; not; inc".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&prof, edited.join("\n")).unwrap();
    let (status, _, err) = vmkit(&[
        "protect",
        "--profile",
        p,
        "examples/fib.s",
        "-o",
        temp("z.vmi").to_str().unwrap(),
    ]);
    assert_eq!(status, 1);
    assert!(
        err.contains(&format!("{p}:{line}: entry: `ror 99` rotates by 99")),
        "{err}"
    );
}

#[test]
fn devirt_of_an_empty_file_says_so() {
    let empty = temp("empty.vmi");
    std::fs::write(&empty, b"").unwrap();
    let e = empty.to_str().unwrap();
    let (status, _, err) = vmkit(&["devirt", e, "-o", temp("e.d.vmi").to_str().unwrap()]);
    assert_eq!(status, 1);
    assert!(
        err.contains(&format!("{e}: the file is empty: not a protected image")),
        "{err}"
    );
}
