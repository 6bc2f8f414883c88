//! `vmkit-fuzz`: runs a fuzz target for a while, or replays a saved input.

#![forbid(unsafe_code)]

use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use vmkit_fuzz::runner::{self, Settings};
use vmkit_fuzz::{target, TARGETS};

#[derive(Parser)]
#[command(
    name = "vmkit-fuzz",
    about = "Fuzz vmkit's parsers and engines on stable Rust (see docs/testing.md).",
    after_help = "Targets: asm, image, devirt, x86, elf, or all (each in turn, --time each).\n\nExamples:\n  cargo run -p vmkit-fuzz --release -- asm --time 60\n  cargo run -p vmkit-fuzz --release -- all --time 300 --seed 7 --keep-going\n  cargo run -p vmkit-fuzz --release -- x86 --replay target/fuzz-crashes/x86-panic-0123456789abcdef\n\nFindings are saved to target/fuzz-crashes/ (the input, and a .txt with the message and backtrace). Exit status: 0 nothing found, 1 a panic, 70 a hang or memory blow-up, 2 bad usage."
)]
struct Args {
    /// The target to fuzz: asm, image, devirt, x86, elf, all; or `list`.
    target: String,
    /// Seconds to fuzz (each target, for `all`); default 60 unless --runs is given.
    #[arg(long, value_name = "SECS")]
    time: Option<f64>,
    /// Mutated inputs to run, after the seeds.
    #[arg(long, value_name = "N")]
    runs: Option<u64>,
    /// Seed of the mutation sequence.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds one input may take before it counts as a hang.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,
    /// Resident memory (MiB) past which the current input counts as a finding.
    #[arg(long, value_name = "MIB", default_value_t = 4096)]
    rss_limit_mb: u64,
    /// Where findings are saved.
    #[arg(long, value_name = "DIR")]
    crashes: Option<PathBuf>,
    /// Also start from every file in DIR (for instance earlier findings).
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Go on after a panic; each panic location is reported once.
    #[arg(long)]
    keep_going: bool,
    /// Run this one input (a saved finding) and show what happens.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// No progress lines.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.target == "list" {
        for t in TARGETS {
            println!("{:8} {}", t.name, t.about);
        }
        return ExitCode::SUCCESS;
    }
    let targets: Vec<_> = if args.target == "all" {
        TARGETS.iter().collect()
    } else {
        match target(&args.target) {
            Some(t) => vec![t],
            None => {
                let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
                eprintln!(
                    "error: no fuzz target `{}`; the targets are {}, or all",
                    args.target,
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        }
    };
    let root = vmkit_fuzz::seeds::workspace_root();
    let crashes = absolute(
        args.crashes
            .unwrap_or_else(|| root.join("target/fuzz-crashes")),
    );

    if let Some(file) = &args.replay {
        let Some(t) = targets.first().filter(|_| targets.len() == 1) else {
            eprintln!("error: --replay needs one target");
            return ExitCode::from(2);
        };
        let input = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        enter_workdir(&root, t.name);
        let signature = runner::replay(t, &input);
        println!(
            "{}: {} bytes ran without a panic (signature {signature:016x})",
            t.name,
            input.len()
        );
        return ExitCode::SUCCESS;
    }

    let mut extra_seeds = Vec::new();
    if let Some(dir) = &args.corpus {
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_file() && path.extension().is_none_or(|e| e != "txt") {
                        if let Ok(bytes) = std::fs::read(&path) {
                            extra_seeds.push(bytes);
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        }
    }
    let time = match (args.time, args.runs) {
        (Some(secs), _) => Some(Duration::from_secs_f64(secs.max(0.0))),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(60)),
    };
    let mut found = false;
    for t in targets {
        enter_workdir(&root, t.name);
        let settings = Settings {
            seed: args.seed,
            time,
            runs: args.runs,
            case_timeout: Duration::from_secs_f64(args.timeout.max(0.01)),
            rss_limit_mb: args.rss_limit_mb,
            crashes: crashes.clone(),
            keep_going: args.keep_going,
            extra_seeds: extra_seeds.clone(),
            progress: !args.quiet,
        };
        let summary = runner::fuzz(t, &settings);
        println!(
            "{}: {} runs, corpus {}, {} signatures, slowest case {:.3} s, {} finding{}",
            t.name,
            summary.runs,
            summary.corpus,
            summary.signatures,
            summary.slowest,
            summary.findings.len(),
            if summary.findings.len() == 1 { "" } else { "s" }
        );
        found |= !summary.findings.is_empty();
        // A slow case is not a hang yet, but worth a look: keep it.
        if summary.slowest > settings.case_timeout.as_secs_f64() / 10.0 {
            let path = runner::save(&crashes, t.name, "slow", &summary.slowest_input);
            println!(
                "{}: the slowest case took {:.3} s; its input is saved to {}",
                t.name,
                summary.slowest,
                path.display()
            );
        }
    }
    if found {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// Runs the targets in a scratch directory of their own: the assembler resolves `.include`
/// and the x86 guest opens files relative to the current directory, and neither should see
/// the user's. The directory holds the examples' include files, so `.include` seeds work.
fn enter_workdir(root: &Path, target: &str) {
    let dir = root
        .join("target/fuzz-work")
        .join(format!("{target}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(entries) = std::fs::read_dir(root.join("examples")) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "inc") {
                let _ = std::fs::copy(&path, dir.join(entry.file_name()));
            }
        }
    }
    if let Err(e) = std::env::set_current_dir(&dir) {
        eprintln!("warning: cannot enter {}: {e}", dir.display());
    }
}
