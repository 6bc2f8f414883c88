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
