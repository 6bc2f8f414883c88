//! `vmkit bench x86`: the same static i386 programs run natively, under qemu-i386 (Debian's
//! qemu-user, when installed) and under vmkit, in one run, with the ratios between them.
//!
//! The programs are built here from `benches/x86/*.c` (bundled into the binary) with
//! `gcc -m32 -static -O2`; busybox is Debian's busybox-static for i386, unpacked by
//! `.ci/fetch-busybox`. Every runner's stdout and exit status must equal the native run's,
//! so a figure is never reported for a wrong answer. Times are wall-clock time of the whole
//! process (start-up included), best of several runs; vmkit runs as a child process
//! (`vmkit run`), exactly as qemu-i386 does. One more, untimed run on an in-process
//! [`X86Machine`] counts the instructions each program executes, which gives every runner's
//! guest instructions per second (the same program executes the same instructions on all
//! three).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use vmkit_x86::{X86Exit, X86Machine};

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
}

/// A C source bundled into the binary.
struct Source {
    name: &'static str,
    text: &'static str,
}

const SOURCES: [Source; 4] = [
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
];

/// Problem sizes.
struct Sizes {
    loop_iterations: u64,
    file_bytes: usize,
    compute_rounds: u32,
    runs: usize,
    startup_runs: usize,
}

impl Sizes {
    fn new(quick: bool) -> Sizes {
        if quick {
            Sizes {
                loop_iterations: 100_000,
                file_bytes: 256 << 10,
                compute_rounds: 1,
                runs: 1,
                startup_runs: 3,
            }
        } else {
            Sizes {
                loop_iterations: 200_000_000,
                file_bytes: 20 << 20,
                compute_rounds: 20,
                runs: 3,
                startup_runs: 20,
            }
        }
    }
}

/// One program to time: an executable, its arguments and its stdin.
struct Workload {
    name: String,
    exe: PathBuf,
    args: Vec<String>,
    stdin: Option<PathBuf>,
    /// Whether instructions per second mean something (not for start-up).
    per_second: bool,
    runs: usize,
}

/// How a program is started.
enum Runner {
    /// Directly, on the host CPU.
    Native,
    /// `qemu-i386 PROGRAM ARGS...`
    Qemu(PathBuf),
    /// `vmkit run PROGRAM -- ARGS...`
    Vmkit(PathBuf),
}

impl Runner {
    fn command(&self, workload: &Workload) -> Command {
        let mut cmd = match self {
            Runner::Native => Command::new(&workload.exe),
            Runner::Qemu(qemu) => {
                let mut cmd = Command::new(qemu);
                cmd.arg(&workload.exe);
                cmd
            }
            Runner::Vmkit(vmkit) => {
                let mut cmd = Command::new(vmkit);
                cmd.arg("run").arg(&workload.exe).arg("--");
                cmd
            }
        };
        cmd.args(&workload.args);
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

/// The busybox binary: `--busybox`, else `target/busybox-i386/bin/busybox` below the current
/// directory or below the source tree this vmkit was built from.
fn find_busybox(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = given {
        return Some(path.to_path_buf());
    }
    let relative = Path::new("target/busybox-i386/bin/busybox");
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    [PathBuf::from(relative), built_from.join(relative)]
        .into_iter()
        .find(|p| p.is_file())
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
        .map_err(|e| format!("error: cannot run gcc: {e}"))?;
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

/// The measured workloads, in the order they are reported.
fn workloads(dir: &Path, sizes: &Sizes, busybox: Option<&Path>) -> Result<Vec<Workload>, String> {
    let mut exes = Vec::new();
    for source in &SOURCES {
        exes.push(build(dir, source)?);
    }
    let n = sizes.loop_iterations;
    let mut list = vec![
        Workload {
            name: format!("register loop, {}M x 5 instrs", n as f64 / 1e6),
            exe: exes[0].clone(),
            args: vec![n.to_string()],
            stdin: None,
            per_second: true,
            runs: sizes.runs,
        },
        Workload {
            name: format!("load/store loop, {}M x 5 instrs", n as f64 / 1e6),
            exe: exes[1].clone(),
            args: vec![n.to_string()],
            stdin: None,
            per_second: true,
            runs: sizes.runs,
        },
        Workload {
            name: format!("start-up: static hello, best of {}", sizes.startup_runs),
            exe: exes[2].clone(),
            args: Vec::new(),
            stdin: None,
            per_second: false,
            runs: sizes.startup_runs,
        },
        Workload {
            name: format!("compute.c, {} rounds", sizes.compute_rounds),
            exe: exes[3].clone(),
            args: vec![sizes.compute_rounds.to_string()],
            stdin: None,
            per_second: true,
            runs: sizes.runs,
        },
    ];
    if let Some(busybox) = busybox {
        let input = dir.join("input.bin");
        std::fs::write(&input, input_bytes(sizes.file_bytes))
            .map_err(|e| format!("error: {}: {e}", input.display()))?;
        let mib = sizes.file_bytes as f64 / (1 << 20) as f64;
        for applet in [vec!["sha256sum"], vec!["gzip", "-c"]] {
            list.push(Workload {
                name: format!("busybox {} < {mib} MiB", applet.join(" ")),
                exe: busybox.to_path_buf(),
                args: applet.iter().map(|s| s.to_string()).collect(),
                stdin: Some(input.clone()),
                per_second: true,
                runs: sizes.runs,
            });
        }
    }
    Ok(list)
}

/// One reported line.
struct Row {
    name: String,
    /// Instructions the program executes (counted by an in-process run).
    guest_instructions: u64,
    per_second: bool,
    native: f64,
    qemu: Option<f64>,
    vmkit: f64,
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
        format!(
            "{{\"name\":\"{}\",\"guest_instructions\":{},\"native_seconds\":{:.6},\"qemu_seconds\":{},\"vmkit_seconds\":{:.6},\"vmkit_per_native\":{:.3},\"vmkit_per_qemu\":{},\"native_mips\":{},\"qemu_mips\":{},\"vmkit_mips\":{}}}",
            self.name,
            self.guest_instructions,
            self.native,
            opt(self.qemu, 6),
            self.vmkit,
            self.vmkit / self.native,
            opt(self.qemu.map(|q| self.vmkit / q), 3),
            opt(self.mips(self.native), 1),
            opt(self.qemu.and_then(|q| self.mips(q)), 1),
            opt(self.mips(self.vmkit), 1),
        )
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

const HEADER_WIDTHS: (usize, usize) = (36, 11);

fn print_header(qemu: bool) {
    let (name, col) = HEADER_WIDTHS;
    println!(
        "{:<name$} {:>14} {:>col$} {:>col$} {:>col$} {:>12} {:>10}",
        "program",
        "guest instrs",
        "native",
        if qemu { "qemu-i386" } else { "(no qemu)" },
        "vmkit",
        "vmkit/native",
        "vmkit/qemu"
    );
}

fn print_row(row: &Row) {
    let (name, col) = HEADER_WIDTHS;
    let dash = || "-".to_string();
    println!(
        "{:<name$} {:>14} {:>col$} {:>col$} {:>col$} {:>11.1}x {:>10}",
        row.name,
        row.guest_instructions,
        show_secs(row.native),
        row.qemu.map_or_else(dash, show_secs),
        show_secs(row.vmkit),
        row.vmkit / row.native,
        row.qemu
            .map_or_else(dash, |q| format!("{:.2}x", row.vmkit / q)),
    );
    if let Some(vmkit) = row.mips(row.vmkit) {
        let shown = |m: Option<f64>| m.map_or_else(dash, |m| format!("{m:.0}"));
        println!(
            "{:<name$} {:>14} {:>col$} {:>col$} {:>col$}",
            "  M guest instructions/s",
            "",
            shown(row.mips(row.native)),
            shown(row.qemu.and_then(|q| row.mips(q))),
            format!("{vmkit:.0}"),
        );
    }
}

/// Runs `workload` once on an in-process [`X86Machine`] to count the instructions it
/// executes (the CLI does not report them), checking its output against the native run's.
fn count_instructions(workload: &Workload, native: &Timing) -> Result<u64, String> {
    let bytes = std::fs::read(&workload.exe)
        .map_err(|e| format!("error: cannot read {}: {e}", workload.exe.display()))?;
    let mut argv = vec![workload.exe.display().to_string()];
    argv.extend(workload.args.iter().cloned());
    let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let mut vm =
        X86Machine::try_new().map_err(|e| format!("error: cannot start the x86 guest: {e}"))?;
    vm.load_elf(&bytes, &argv, &env)
        .map_err(|e| format!("error: {}: {e}", workload.exe.display()))?;
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
            "error: {}: the in-process machine ended with {exit:?} and {} bytes of output, native with {} bytes",
            workload.name,
            vm.output().len(),
            native.stdout.len()
        ));
    }
    Ok(vm.steps())
}

/// Checks an emulator's answer against the native one.
fn check(name: &str, runner: &str, native: &Timing, got: &Timing) -> Result<(), String> {
    if got.status != native.status || got.stdout != native.stdout {
        return Err(format!(
            "error: {name}: {runner} gave exit status {:?} and {} bytes of output, native {:?} and {} bytes",
            got.status,
            got.stdout.len(),
            native.status,
            native.stdout.len()
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
    let busybox = find_busybox(options.busybox.as_deref());
    // With --json, stdout is the JSON alone; the notes go to stderr.
    let say = |line: String| {
        if options.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(format!(
        "x86 guest: the same static i386 programs natively, under qemu-i386 and under vmkit; \
         wall time per process (start-up included), best of {}",
        sizes.runs
    ));
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
    let list = workloads(dir, sizes, busybox.as_deref())?;
    let runner_qemu = qemu.map(Runner::Qemu);
    let runner_vmkit = Runner::Vmkit(vmkit);
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
                check(&workload.name, "qemu-i386", &native, &t)?;
                Some(t.best_secs)
            }
            None => None,
        };
        let vm = time_runs(&runner_vmkit, workload)?;
        check(&workload.name, "vmkit", &native, &vm)?;
        let row = Row {
            name: workload.name.clone(),
            guest_instructions: count_instructions(workload, &native)?,
            per_second: workload.per_second,
            native: native.best_secs.max(1e-9),
            qemu,
            vmkit: vm.best_secs,
        };
        if !options.json {
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
