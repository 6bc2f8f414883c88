//! `vmkit bench x86`: the same i386 programs run natively, under qemu-i386 (Debian's
//! qemu-user, when installed) and under both of vmkit's engines, the interpreter
//! (`vmkit run --engine interp`) and the translator (`--engine jit`), in one run, with the
//! ratios between them.
//!
//! The static programs are built here from `benches/x86/*.c` (bundled into the binary) with
//! `gcc -m32 -static -O2`; busybox is Debian's busybox-static for i386, unpacked by
//! `.ci/fetch-busybox`; Lua 5.4 and gzip are Debian's i386 packages in the root that
//! `.ci/fetch-debian-root` unpacks, run natively with `chroot ROOT`, under qemu with
//! `-L ROOT` and under vmkit with `--root ROOT`. Every runner's stdout and exit status must
//! equal the native run's, so a figure is never reported for a wrong answer. Times are
//! wall-clock time of the whole process (start-up included), best of several runs; vmkit
//! runs as a child process (`vmkit run`), exactly as qemu-i386 does. One more, untimed run
//! on an in-process [`X86Machine`] (the interpreter) counts the instructions each program
//! executes, which gives every runner's guest instructions per second (the same program
//! executes the same instructions on all of them).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use vmkit_x86::{Engine, Sandbox, X86Exit, X86Machine};

/// What `vmkit bench x86` was asked for.
pub struct Options {
    /// Tiny sizes and single runs: proves the pipeline end to end in a few seconds.
    pub quick: bool,
    /// Print the results as JSON.
    pub json: bool,
    /// The qemu-user program (a name looked up in PATH, or a path).
    pub qemu: String,
    /// Debian's busybox-static for i386 (default: `target/busybox-i386/bin/busybox`).
    pub busybox: Option<PathBuf>,
    /// A root of Debian i386 packages with `lua5.4` and `gzip` (default:
    /// `target/debian-i386-root`).
    pub debian_root: Option<PathBuf>,
}

/// A C source bundled into the binary.
struct Source {
    name: &'static str,
    text: &'static str,
}

const SOURCES: [Source; 6] = [
    Source {
        name: "reg_loop",
        text: include_str!("../../../benches/x86/reg_loop.c"),
    },
    Source {
        name: "mem_loop",
        text: include_str!("../../../benches/x86/mem_loop.c"),
    },
    Source {
        name: "hello",
        text: include_str!("../../../benches/x86/hello.c"),
    },
    Source {
        name: "compute",
        text: include_str!("../../../benches/x86/compute.c"),
    },
    Source {
        name: "coremark",
        text: include_str!("../../../benches/x86/coremark.c"),
    },
    Source {
        name: "x87",
        text: include_str!("../../../benches/x86/x87.c"),
    },
];

/// The Lua program of the Lua row, fed to `lua5.4 -` on stdin.
const LUA_SCRIPT: &str = include_str!("../../../benches/x86/mixed.lua");

/// What the Debian rows run, as paths inside the root.
const LUA: &str = "/usr/bin/lua5.4";
const GZIP: &str = "/bin/gzip";

/// The environment of the programs run in the Debian root (nothing from the host's, so the
/// native, qemu and vmkit runs see the same).
const ROOT_ENV: [(&str, &str); 3] = [
    ("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"),
    ("HOME", "/"),
    ("LC_ALL", "C"),
];

/// vmkit's engines, in the order of their columns.
const ENGINES: [Engine; 2] = [Engine::Interp, Engine::Jit];

/// Problem sizes.
struct Sizes {
    loop_iterations: u64,
    file_bytes: usize,
    compute_rounds: u32,
    coremark_iterations: u32,
    x87_scale: u32,
    lua_rounds: u32,
    gzip9_bytes: usize,
    runs: usize,
    startup_runs: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                loop_iterations: 100_000,
                file_bytes: 64 << 10,
                compute_rounds: 1,
                coremark_iterations: 10,
                x87_scale: 1,
                lua_rounds: 1,
                gzip9_bytes: 16 << 10,
                runs: 1,
                startup_runs: 3,
            }
        } else {
            Sizes {
                loop_iterations: 200_000_000,
                file_bytes: 20 << 20,
                compute_rounds: 20,
                coremark_iterations: 2000,
                x87_scale: 20,
                lua_rounds: 20,
                gzip9_bytes: 8_600_000,
                runs: 3,
                startup_runs: 20,
            }
        }
    }
}

/// One program to time: an executable, its arguments and its stdin.
struct Workload {
    name: String,
    /// The program: a host path, or with `root` a path inside the root.
    exe: PathBuf,
    args: Vec<String>,
    stdin: Option<PathBuf>,
    /// A Debian root the program runs in (`chroot`, `qemu -L`, `vmkit run --root`).
    root: Option<PathBuf>,
    /// Whether instructions per second mean something (not for start-up).
    per_second: bool,
    /// Whether to report speed as a percentage of native speed (the CPU benchmark).
    percent_of_native: bool,
    runs: usize,
}

impl Workload {
    /// A static program built here, run with `args`.
    fn built(name: String, exe: &Path, args: Vec<String>, runs: usize) -> Workload {
        Workload {
            name,
            exe: exe.to_path_buf(),
            args,
            stdin: None,
            root: None,
            per_second: true,
            percent_of_native: false,
            runs,
        }
    }
}

/// How a program is started.
enum Runner {
    /// Directly, on the host CPU (`chroot ROOT PROGRAM` for a program in a root).
    Native,
    /// `qemu-i386 PROGRAM ARGS...` (`-L ROOT ROOT/PROGRAM` for a program in a root).
    Qemu(PathBuf),
    /// `vmkit run --engine ENGINE PROGRAM -- ARGS...` (`--root ROOT` for a program in a root).
    Vmkit(PathBuf, Engine),
}

impl Runner {
    /// The runner's name in error messages.
    fn name(&self) -> String {
        match self {
            Runner::Native => "native".into(),
            Runner::Qemu(_) => "qemu-i386".into(),
            Runner::Vmkit(_, engine) => format!("vmkit --engine {}", engine.name()),
        }
    }

    fn command(&self, workload: &Workload) -> Command {
        let root = workload.root.as_deref();
        let mut cmd = match self {
            Runner::Native => match root {
                Some(root) => {
                    // Looked up in the host's PATH: the child's is the root's.
                    let chroot = find_program("chroot").unwrap_or_else(|| "chroot".into());
                    let mut cmd = Command::new(chroot);
                    cmd.arg(root).arg(&workload.exe);
                    cmd
                }
                None => Command::new(&workload.exe),
            },
            Runner::Qemu(qemu) => {
                let mut cmd = Command::new(qemu);
                match root {
                    Some(root) => {
                        let inside = workload.exe.strip_prefix("/").unwrap_or(&workload.exe);
                        cmd.arg("-L").arg(root).arg(root.join(inside))
                    }
                    None => cmd.arg(&workload.exe),
                };
                cmd
            }
            Runner::Vmkit(vmkit, engine) => {
                let mut cmd = Command::new(vmkit);
                cmd.args(["run", "--engine", engine.name()]);
                if let Some(root) = root {
                    cmd.arg("--root").arg(root);
                }
                cmd.arg(&workload.exe).arg("--");
                cmd
            }
        };
        cmd.args(&workload.args);
        if root.is_some() {
            cmd.env_clear().envs(ROOT_ENV).current_dir("/");
        }
        cmd
    }
}

/// The fastest of a workload's runs under one runner, and what it printed.
struct Timing {
    best_secs: f64,
    stdout: Vec<u8>,
    status: Option<i32>,
}

fn time_runs(runner: &Runner, workload: &Workload) -> Result<Timing, String> {
    let mut best: Option<Timing> = None;
    for _ in 0..workload.runs {
        let mut cmd = runner.command(workload);
        cmd.stderr(Stdio::inherit());
        match &workload.stdin {
            Some(path) => cmd.stdin(
                std::fs::File::open(path)
                    .map_err(|e| format!("error: cannot open {}: {e}", path.display()))?,
            ),
            None => cmd.stdin(Stdio::null()),
        };
        let start = Instant::now();
        let out = cmd
            .output()
            .map_err(|e| format!("error: cannot start {:?}: {e}", cmd.get_program()))?;
        let secs = start.elapsed().as_secs_f64();
        if best.as_ref().is_none_or(|b| secs < b.best_secs) {
            best = Some(Timing {
                best_secs: secs,
                stdout: out.stdout,
                status: out.status.code(),
            });
        }
    }
    best.ok_or_else(|| "error: no runs".into())
}

/// Where a program is found: a path as given, or a name looked up in PATH.
fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return path.is_file().then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A fetched input: `given`, else `relative` below the current directory or below the
/// source tree this vmkit was built from, if it exists.
fn find_fetched(given: Option<&Path>, relative: &str) -> Option<PathBuf> {
    if let Some(path) = given {
        return Some(path.to_path_buf());
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    [PathBuf::from(relative), built_from.join(relative)]
        .into_iter()
        .find(|p| p.exists())
}

/// Whether this process runs as root (`chroot` needs it): `/proc/self` belongs to the
/// process's effective user.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The Debian root for the Lua and `gzip -9` rows, or why they are left out.
fn debian_root(given: Option<&Path>) -> Result<PathBuf, String> {
    let fetch = "run .ci/fetch-debian-root, or pass --debian-root";
    let Some(root) = find_fetched(given, "target/debian-i386-root") else {
        return Err(format!(
            "target/debian-i386-root not found ({fetch}); the Lua and gzip -9 workloads are left out"
        ));
    };
    if !root.is_dir() {
        return Err(format!(
            "{} is not a directory; the Lua and gzip -9 workloads are left out",
            root.display()
        ));
    }
    for program in [LUA, GZIP] {
        if !root.join(&program[1..]).is_file() {
            return Err(format!(
                "{} has no {program} (a root fetched before lua5.4 and gzip joined it: {fetch}); \
                 the Lua and gzip -9 workloads are left out",
                root.display()
            ));
        }
    }
    if find_program("chroot").is_none() {
        return Err("chroot not found in PATH; the Lua and gzip -9 workloads are left out".into());
    }
    if !running_as_root() {
        return Err(
            "the Lua and gzip -9 workloads run natively with chroot, which needs root; \
                    they are left out"
                .into(),
        );
    }
    std::fs::canonicalize(&root).map_err(|e| format!("{}: {e}", root.display()))
}

fn build(dir: &Path, source: &Source) -> Result<PathBuf, String> {
    let src = dir.join(format!("{}.c", source.name));
    let exe = dir.join(source.name);
    std::fs::write(&src, source.text).map_err(|e| format!("error: {}: {e}", src.display()))?;
    let out = Command::new("gcc")
        .args(["-m32", "-static", "-O2", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .map_err(|e| {
            format!(
                "error: cannot run gcc ({e}): vmkit bench x86 builds its programs with \
                 gcc -m32 -static -O2 (Debian: apt-get install gcc gcc-multilib)"
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "error: gcc -m32 -static -O2 {}.c failed (is gcc-multilib installed?):\n{}",
            source.name,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(exe)
}

/// Deterministic input for the busybox workloads: alternating runs of text-like bytes
/// (which gzip compresses) and xorshift noise (which it cannot).
fn input_bytes(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x2545_F491;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if (i / 4096) % 4 == 3 {
                state as u8
            } else {
                b"etaoin shrdlu\n"[(state % 14) as usize]
            }
        })
        .collect()
}

/// Real files for `gzip -9`: the regular files of `root` (ELF programs and libraries, text,
/// data) concatenated in path order, up to `len` bytes.
fn root_files(root: &Path, len: usize) -> Result<Vec<u8>, String> {
    fn walk(dir: &Path, len: usize, out: &mut Vec<u8>) -> Result<(), String> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("error: {}: {e}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if out.len() >= len {
                break;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                walk(&path, len, out)?;
            } else if meta.is_file() {
                let bytes =
                    std::fs::read(&path).map_err(|e| format!("error: {}: {e}", path.display()))?;
                out.extend_from_slice(&bytes[..bytes.len().min(len - out.len())]);
            }
        }
        Ok(())
    }
    let mut out = Vec::with_capacity(len);
    walk(root, len, &mut out)?;
    Ok(out)
}

fn write_input(path: &Path, bytes: &[u8]) -> Result<PathBuf, String> {
    std::fs::write(path, bytes).map_err(|e| format!("error: {}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

/// The measured workloads, in the order they are reported.
fn workloads(
    dir: &Path,
    sizes: &Sizes,
    busybox: Option<&Path>,
    root: Option<&Path>,
) -> Result<Vec<Workload>, String> {
    let mut exes = Vec::new();
    for source in &SOURCES {
        exes.push(build(dir, source)?);
    }
    let n = sizes.loop_iterations;
    let runs = sizes.runs;
    let mut list = vec![
        Workload::built(
            format!("register loop, {}M x 5 instrs", n as f64 / 1e6),
            &exes[0],
            vec![n.to_string()],
            runs,
        ),
        Workload::built(
            format!("load/store loop, {}M x 5 instrs", n as f64 / 1e6),
            &exes[1],
            vec![n.to_string()],
            runs,
        ),
        Workload {
            per_second: false,
            ..Workload::built(
                format!("start-up: static hello, best of {}", sizes.startup_runs),
                &exes[2],
                Vec::new(),
                sizes.startup_runs,
            )
        },
        Workload::built(
            format!("compute.c, {} rounds", sizes.compute_rounds),
            &exes[3],
            vec![sizes.compute_rounds.to_string()],
            runs,
        ),
        Workload {
            percent_of_native: true,
            ..Workload::built(
                format!("coremark.c, {} iterations", sizes.coremark_iterations),
                &exes[4],
                vec![sizes.coremark_iterations.to_string()],
                runs,
            )
        },
        Workload::built(
            format!("x87.c (x87 FPU), scale {}", sizes.x87_scale),
            &exes[5],
            vec![sizes.x87_scale.to_string()],
            runs,
        ),
    ];
    if let Some(root) = root {
        let script = write_input(&dir.join("mixed.lua"), LUA_SCRIPT.as_bytes())?;
        list.push(Workload {
            name: format!("Lua 5.4 mixed.lua, {} rounds", sizes.lua_rounds),
            exe: PathBuf::from(LUA),
            args: vec!["-".into(), sizes.lua_rounds.to_string()],
            stdin: Some(script),
            root: Some(root.to_path_buf()),
            per_second: true,
            percent_of_native: false,
            runs,
        });
    }
    if let Some(busybox) = busybox {
        let input = write_input(&dir.join("input.bin"), &input_bytes(sizes.file_bytes))?;
        let mib = sizes.file_bytes as f64 / (1 << 20) as f64;
        for applet in [vec!["sha256sum"], vec!["gzip", "-c"]] {
            list.push(Workload {
                name: format!("busybox {} < {mib} MiB", applet.join(" ")),
                exe: busybox.to_path_buf(),
                args: applet.iter().map(|s| s.to_string()).collect(),
                stdin: Some(input.clone()),
                ..Workload::built(String::new(), busybox, Vec::new(), runs)
            });
        }
    }
    if let Some(root) = root {
        let files = root_files(root, sizes.gzip9_bytes)?;
        let input = write_input(&dir.join("root-files.bin"), &files)?;
        list.push(Workload {
            name: format!(
                "gzip -9 -n < {:.1} MB of Debian files",
                files.len() as f64 / 1e6
            ),
            exe: PathBuf::from(GZIP),
            // -n: no time stamp in the header; from a file on stdin gzip would record the
            // file's, which the in-process run (stdin from memory) does not see.
            args: vec!["-9".into(), "-n".into()],
            stdin: Some(input),
            root: Some(root.to_path_buf()),
            per_second: true,
            percent_of_native: false,
            runs,
        });
    }
    Ok(list)
}

/// One reported line.
struct Row {
    name: String,
    /// Instructions the program executes (counted by an in-process run).
    guest_instructions: u64,
    per_second: bool,
    percent_of_native: bool,
    native: f64,
    qemu: Option<f64>,
    /// Seconds under each of [`ENGINES`].
    vmkit: [f64; 2],
}

impl Row {
    /// Millions of the program's instructions per second of `secs` (not for start-up).
    fn mips(&self, secs: f64) -> Option<f64> {
        self.per_second
            .then(|| self.guest_instructions as f64 / secs / 1e6)
    }

    fn json(&self) -> String {
        let opt = |v: Option<f64>, digits: usize| match v {
            Some(v) => format!("{v:.digits$}"),
            None => "null".into(),
        };
        let mut fields = vec![
            format!("\"name\":\"{}\"", self.name.replace('"', "'")),
            format!("\"guest_instructions\":{}", self.guest_instructions),
            format!("\"native_seconds\":{:.6}", self.native),
            format!("\"qemu_seconds\":{}", opt(self.qemu, 6)),
            format!(
                "\"qemu_per_native\":{}",
                opt(self.qemu.map(|q| q / self.native), 3)
            ),
            format!("\"native_mips\":{}", opt(self.mips(self.native), 1)),
            format!(
                "\"qemu_mips\":{}",
                opt(self.qemu.and_then(|q| self.mips(q)), 1)
            ),
        ];
        for (engine, secs) in ENGINES.iter().zip(self.vmkit) {
            let e = engine.name();
            fields.extend([
                format!("\"{e}_seconds\":{secs:.6}"),
                format!("\"{e}_per_native\":{:.3}", secs / self.native),
                format!("\"{e}_per_qemu\":{}", opt(self.qemu.map(|q| secs / q), 3)),
                format!("\"{e}_mips\":{}", opt(self.mips(secs), 1)),
                format!(
                    "\"{e}_percent_of_native\":{:.2}",
                    100.0 * self.native / secs
                ),
            ]);
        }
        format!("{{{}}}", fields.join(","))
    }
}

/// Seconds with a unit that keeps three significant places for start-up times.
fn show_secs(secs: f64) -> String {
    if secs < 0.1 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{secs:.3} s")
    }
}

/// Widths of the name column and of the figure columns.
const WIDTHS: (usize, usize) = (38, 12);

/// One table line: a name, the instruction count and the native, qemu, interpreter and
/// translator columns.
fn print_line(name: &str, count: &str, cells: [String; 4]) {
    let (name_width, col) = WIDTHS;
    let [native, qemu, interp, jit] = cells;
    println!(
        "{name:<name_width$} {count:>14} {native:>col$} {qemu:>col$} {interp:>col$} {jit:>col$}"
    );
}

fn print_header(qemu: bool) {
    print_line(
        "program",
        "guest instrs",
        [
            "native".into(),
            if qemu { "qemu-i386" } else { "(no qemu)" }.into(),
            "vmkit interp".into(),
            "vmkit jit".into(),
        ],
    );
}

fn print_row(row: &Row) {
    let dash = || "-".to_string();
    let [interp, jit] = row.vmkit;
    print_line(
        &row.name,
        &row.guest_instructions.to_string(),
        [
            show_secs(row.native),
            row.qemu.map_or_else(dash, show_secs),
            show_secs(interp),
            show_secs(jit),
        ],
    );
    let ratio = |secs: f64, to: f64| format!("{:.2}x", secs / to);
    print_line(
        "  time / native",
        "",
        [
            String::new(),
            row.qemu.map_or_else(dash, |q| ratio(q, row.native)),
            ratio(interp, row.native),
            ratio(jit, row.native),
        ],
    );
    print_line(
        "  time / qemu-i386",
        "",
        [
            String::new(),
            String::new(),
            row.qemu.map_or_else(dash, |q| ratio(interp, q)),
            row.qemu.map_or_else(dash, |q| ratio(jit, q)),
        ],
    );
    if row.percent_of_native {
        let percent = |secs: f64| format!("{:.1}%", 100.0 * row.native / secs);
        print_line(
            "  speed, % of native",
            "",
            [
                "100%".into(),
                row.qemu.map_or_else(dash, percent),
                percent(interp),
                percent(jit),
            ],
        );
    }
    if row.per_second {
        let mips = |secs: f64| row.mips(secs).map_or_else(dash, |m| format!("{m:.0}"));
        print_line(
            "  M guest instructions/s",
            "",
            [
                mips(row.native),
                row.qemu.map_or_else(dash, mips),
                mips(interp),
                mips(jit),
            ],
        );
    }
}

/// Runs `workload` once on an in-process [`X86Machine`] with the interpreter to count the
/// instructions it executes (the CLI does not report them), checking its output against
/// the native run's.
fn count_instructions(workload: &Workload, native: &Timing) -> Result<u64, String> {
    let mut vm =
        X86Machine::try_new().map_err(|e| format!("error: cannot start the x86 guest: {e}"))?;
    vm.set_engine(Engine::Interp);
    let mut argv = vec![workload.exe.display().to_string()];
    argv.extend(workload.args.iter().cloned());
    match &workload.root {
        Some(root) => {
            let sandbox = Sandbox::root(root)
                .map_err(|e| format!("error: --root {}: {e}", root.display()))?;
            vm.set_sandbox(sandbox);
            let env: Vec<String> = ROOT_ENV.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let path = workload.exe.to_str().unwrap_or_default();
            vm.load_elf_path(path, &argv, &env)
                .map_err(|e| format!("error: {}: {e}", workload.exe.display()))?;
        }
        None => {
            let bytes = std::fs::read(&workload.exe)
                .map_err(|e| format!("error: cannot read {}: {e}", workload.exe.display()))?;
            let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
            vm.load_elf(&bytes, &argv, &env)
                .map_err(|e| format!("error: {}: {e}", workload.exe.display()))?;
        }
    }
    let stdin = match &workload.stdin {
        Some(path) => std::fs::read(path)
            .map_err(|e| format!("error: cannot read {}: {e}", path.display()))?,
        None => Vec::new(),
    };
    vm.set_stdin(&stdin);
    vm.capture_output();
    let exit = vm.run();
    if exit != X86Exit::Exited(0) || vm.output() != native.stdout {
        return Err(format!(
            "error: {}: the in-process machine ended with {exit:?} and {} bytes of output, native with {} bytes{}",
            workload.name,
            vm.output().len(),
            native.stdout.len(),
            if vm.output().len() == native.stdout.len() { " (different ones)" } else { "" }
        ));
    }
    Ok(vm.steps())
}

/// Checks an emulator's answer against the native one.
fn check(name: &str, runner: &Runner, native: &Timing, got: &Timing) -> Result<(), String> {
    if got.status != native.status || got.stdout != native.stdout {
        return Err(format!(
            "error: {name}: {} gave exit status {:?} and {} bytes of output, native {:?} and {} bytes{}",
            runner.name(),
            got.status,
            got.stdout.len(),
            native.status,
            native.stdout.len(),
            if got.stdout.len() == native.stdout.len() { " (different ones)" } else { "" }
        ));
    }
    Ok(())
}

/// `vmkit bench x86`.
pub fn bench(options: &Options) -> Result<i32, String> {
    let sizes = Sizes::new(options.quick);
    let dir = std::env::temp_dir().join(format!("vmkit-bench-x86-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("error: {}: {e}", dir.display()))?;
    let result = bench_in(&dir, &sizes, options);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn bench_in(dir: &Path, sizes: &Sizes, options: &Options) -> Result<i32, String> {
    let vmkit = std::env::current_exe().map_err(|e| format!("error: own path: {e}"))?;
    let qemu = find_program(&options.qemu);
    let busybox = find_fetched(
        options.busybox.as_deref(),
        "target/busybox-i386/bin/busybox",
    );
    if let Some(path) = options.busybox.as_deref().filter(|p| !p.is_file()) {
        return Err(format!("error: --busybox {}: no such file", path.display()));
    }
    // With --json, stdout is the JSON alone; the notes go to stderr.
    let say = |line: String| {
        if options.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(format!(
        "x86 guest: the same i386 programs natively, under qemu-i386 and under vmkit's \
         interpreter (--engine interp) and translator (--engine jit); wall time per process \
         (start-up included), best of {}",
        sizes.runs
    ));
    if !Engine::Jit.available() {
        say("vmkit jit: no translator on this host; --engine jit runs the interpreter".into());
    }
    match &qemu {
        Some(path) => {
            let version = Command::new(path)
                .arg("--version")
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
                .unwrap_or_default();
            say(format!("qemu: {} ({version})", path.display()));
        }
        None => say(format!(
            "qemu: {} not found (Debian: apt-get install qemu-user); its column is left empty",
            options.qemu
        )),
    }
    if busybox.is_none() {
        say(
            "busybox: target/busybox-i386/bin/busybox not found (run .ci/fetch-busybox, or \
             pass --busybox); the busybox workloads are left out"
                .into(),
        );
    }
    let root = match debian_root(options.debian_root.as_deref()) {
        Ok(root) => Some(root),
        Err(why) => {
            say(format!("debian root: {why}"));
            None
        }
    };
    let list = workloads(dir, sizes, busybox.as_deref(), root.as_deref())?;
    let runner_qemu = qemu.map(Runner::Qemu);
    let runners_vmkit = ENGINES.map(|engine| Runner::Vmkit(vmkit.clone(), engine));
    if !options.json {
        println!();
        print_header(runner_qemu.is_some());
    }
    let mut rows = Vec::new();
    for workload in &list {
        let native = time_runs(&Runner::Native, workload)?;
        if native.status != Some(0) {
            return Err(format!(
                "error: {} failed natively (exit status {:?})",
                workload.name, native.status
            ));
        }
        let qemu = match &runner_qemu {
            Some(runner) => {
                let t = time_runs(runner, workload)?;
                check(&workload.name, runner, &native, &t)?;
                Some(t.best_secs)
            }
            None => None,
        };
        let mut vmkit = [0.0; 2];
        for (secs, runner) in vmkit.iter_mut().zip(&runners_vmkit) {
            let t = time_runs(runner, workload)?;
            check(&workload.name, runner, &native, &t)?;
            *secs = t.best_secs;
        }
        let row = Row {
            name: workload.name.clone(),
            guest_instructions: count_instructions(workload, &native)?,
            per_second: workload.per_second,
            percent_of_native: workload.percent_of_native,
            native: native.best_secs.max(1e-9),
            qemu,
            vmkit,
        };
        if options.json {
            eprintln!("done: {}", row.name);
        } else {
            print_row(&row);
        }
        rows.push(row);
    }
    if options.json {
        let items: Vec<String> = rows.iter().map(Row::json).collect();
        println!("[{}]", items.join(","));
    }
    Ok(0)
}
