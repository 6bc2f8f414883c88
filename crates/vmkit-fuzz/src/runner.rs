//! The fuzzing loop: seeds first, then mutated inputs until the time or run budget is spent.
//!
//! A panic is caught, its input saved to the crashes directory with its message and
//! backtrace, and (unless `keep_going`) the run stops. A case that runs longer than the case
//! timeout, or a process whose resident memory passes the limit, cannot be unwound: a
//! watchdog thread saves the input, reports it, and ends the process with [`HANG_EXIT`], as
//! libFuzzer does.

use crate::mutate::Rng;
use crate::targets::Signature;
use crate::Target;
use std::backtrace::Backtrace;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Process exit status after a hang or a memory blow-up.
pub const HANG_EXIT: i32 = 70;

/// Corpus entries kept at most (a new one then replaces a random old one).
const MAX_CORPUS: usize = 20_000;

/// How one fuzzing run goes.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Seed of the mutation sequence: the same seed, code and corpus give the same inputs.
    pub seed: u64,
    /// Stop after this long (seeds included).
    pub time: Option<Duration>,
    /// Stop after this many mutated inputs.
    pub runs: Option<u64>,
    /// A case that takes longer is a hang.
    pub case_timeout: Duration,
    /// Resident memory of the whole process, in MiB, past which the current case is a
    /// finding.
    pub rss_limit_mb: u64,
    /// Where findings are saved.
    pub crashes: PathBuf,
    /// Go on after a panic (each distinct panic location is reported once).
    pub keep_going: bool,
    /// Extra inputs to start from (files saved by earlier runs).
    pub extra_seeds: Vec<Vec<u8>>,
    /// Print progress every few seconds.
    pub progress: bool,
}

/// A panic found by the runner.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The panic message.
    pub message: String,
    /// `file:line:col` of the panic.
    pub location: String,
    /// The backtrace at the panic.
    pub backtrace: String,
    /// Where the input was saved.
    pub input: PathBuf,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Inputs run (seeds included).
    pub runs: u64,
    /// Corpus size at the end.
    pub corpus: usize,
    /// Distinct signatures seen.
    pub signatures: usize,
    /// Panics, one per distinct location.
    pub findings: Vec<Finding>,
    /// The slowest case, in seconds.
    pub slowest: f64,
    /// The slowest case's input.
    pub slowest_input: Vec<u8>,
}

/// The panic being unwound on this thread, recorded by the hook.
#[derive(Clone, Debug, Default)]
struct PanicRecord {
    message: String,
    location: String,
    backtrace: String,
}

static LAST_PANIC: Mutex<Option<PanicRecord>> = Mutex::new(None);

/// Replaces the default panic hook (which would print every caught panic) with one that
/// records the message, location and backtrace for the runner to report.
fn install_panic_hook() {
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".into());
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let backtrace = Backtrace::force_capture().to_string();
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(PanicRecord {
            message,
            location,
            backtrace,
        });
    }));
}

/// What the watchdog watches: the case in progress and when it started.
struct Watch {
    case: Mutex<Option<(Instant, Vec<u8>)>>,
}

/// Runs `input` once through `target`: its signature, or the panic it caused.
fn run_case(target: &Target, input: &[u8]) -> Result<Signature, PanicRecord> {
    match panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input))) {
        Ok(signature) => Ok(signature),
        Err(_) => Err(LAST_PANIC
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default()),
    }
}

/// Runs one input (a saved finding) with the default panic hook, so that a panic shows as
/// it would anywhere else; returns its signature.
pub fn replay(target: &Target, input: &[u8]) -> Signature {
    (target.run)(input)
}

/// Fuzzes `target` under `settings`.
pub fn fuzz(target: &'static Target, settings: &Settings) -> Summary {
    install_panic_hook();
    let started = Instant::now();
    let watch = Arc::new(Watch {
        case: Mutex::new(None),
    });
    spawn_watchdog(target, settings, watch.clone());

    let mut rng = Rng::new(settings.seed);
    let mutator = (target.mutator)();
    let mut summary = Summary::default();
    let mut seen: HashSet<Signature> = HashSet::new();
    let mut reported: HashSet<String> = HashSet::new();
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    let mut last_progress = Instant::now();
    let out_of_time = |mutated: u64| {
        settings.time.is_some_and(|t| started.elapsed() >= t)
            || settings.runs.is_some_and(|r| mutated >= r)
    };

    let mut seeds = (target.seeds)();
    seeds.extend(settings.extra_seeds.iter().cloned());
    if seeds.is_empty() {
        seeds.push(Vec::new());
    }
    let mut queue = seeds.into_iter();
    let mut mutated = 0u64;
    loop {
        let input = match queue.next() {
            Some(seed) => seed,
            None => {
                if out_of_time(mutated) {
                    break;
                }
                mutated += 1;
                let parent = &corpus[rng.below(corpus.len())];
                let other = &corpus[rng.below(corpus.len())];
                mutator.mutate(&mut rng, parent, other)
            }
        };
        *watch.case.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), input.clone()));
        let case_started = Instant::now();
        let result = run_case(target, &input);
        let took = case_started.elapsed().as_secs_f64();
        if took > summary.slowest {
            summary.slowest = took;
            summary.slowest_input = input.clone();
        }
        *watch.case.lock().unwrap_or_else(|e| e.into_inner()) = None;
        summary.runs += 1;
        match result {
            Ok(signature) => {
                if seen.insert(signature) || corpus.is_empty() {
                    if corpus.len() < MAX_CORPUS {
                        corpus.push(input);
                    } else {
                        let at = rng.below(corpus.len());
                        corpus[at] = input;
                    }
                }
            }
            Err(record) => {
                if reported.insert(record.location.clone()) {
                    let path = save(&settings.crashes, target.name, "panic", &input);
                    let finding = Finding {
                        message: record.message,
                        location: record.location,
                        backtrace: record.backtrace,
                        input: path,
                    };
                    write_report(&finding, target);
                    eprintln!("{}", describe(&finding, target));
                    summary.findings.push(finding);
                    if !settings.keep_going {
                        break;
                    }
                }
            }
        }
        if settings.progress && last_progress.elapsed() >= Duration::from_secs(5) {
            last_progress = Instant::now();
            eprintln!(
                "{}: {} runs ({:.0}/s), corpus {}, signatures {}, findings {}",
                target.name,
                summary.runs,
                summary.runs as f64 / started.elapsed().as_secs_f64(),
                corpus.len(),
                seen.len(),
                summary.findings.len()
            );
        }
        if queue.len() == 0 && corpus.is_empty() {
            // Every seed panicked: nothing to mutate.
            break;
        }
    }
    let _ = panic::take_hook();
    summary.corpus = corpus.len();
    summary.signatures = seen.len();
    summary
}

/// How a finding reads on the terminal and in its report file.
pub fn describe(finding: &Finding, target: &Target) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "== {}: panic at {}\n{}\ninput saved to {}\nreplay: cargo run -p vmkit-fuzz --release -- {} --replay {}",
        target.name,
        finding.location,
        finding.message,
        finding.input.display(),
        target.name,
        finding.input.display()
    );
    text
}

fn write_report(finding: &Finding, target: &Target) {
    let report = format!(
        "{}\nbacktrace:\n{}",
        describe(finding, target),
        finding.backtrace
    );
    let _ = std::fs::write(finding.input.with_extension("txt"), report);
}

/// Saves `input` as `DIR/TARGET-KIND-HASH` and returns the path.
pub fn save(dir: &Path, target: &str, kind: &str, input: &[u8]) -> PathBuf {
    let mut h = DefaultHasher::new();
    input.hash(&mut h);
    let path = dir.join(format!("{target}-{kind}-{:016x}", h.finish()));
    if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, input)) {
        eprintln!("cannot save the input to {}: {e}", path.display());
    }
    path
}

/// Resident memory of this process in MiB (Linux; 0 elsewhere).
fn resident_mb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| (pages * 4096) >> 20)
}

fn spawn_watchdog(target: &'static Target, settings: &Settings, watch: Arc<Watch>) {
    let timeout = settings.case_timeout;
    let rss_limit = settings.rss_limit_mb;
    let crashes = settings.crashes.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(50));
        let case = watch.case.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some((started, input)) = case else {
            continue;
        };
        let elapsed = started.elapsed();
        let rss = resident_mb();
        let why = if elapsed > timeout {
            format!(
                "hang: one case ran for more than {:.1} s",
                timeout.as_secs_f64()
            )
        } else if rss > rss_limit {
            format!("memory: the process holds {rss} MiB (limit {rss_limit} MiB)")
        } else {
            continue;
        };
        let kind = if elapsed > timeout { "hang" } else { "memory" };
        let path = save(&crashes, target.name, kind, &input);
        let text = format!(
            "== {}: {why}\ninput saved to {}\nreplay: cargo run -p vmkit-fuzz --release -- {} --replay {}\n(the run cannot be unwound from outside; attach a debugger to the replay to see where it is)",
            target.name,
            path.display(),
            target.name,
            path.display()
        );
        let _ = std::fs::write(path.with_extension("txt"), &text);
        eprintln!("{text}");
        std::process::exit(HANG_EXIT);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutate::Mutator;

    fn panics_on_bang(data: &[u8]) -> Signature {
        assert!(!data.contains(&b'!'), "found a bang");
        data.len() as Signature
    }

    static BANG: Target = Target {
        name: "bang",
        about: "panics on '!'",
        run: panics_on_bang,
        seeds: || vec![b"abc".to_vec()],
        mutator: || Mutator {
            dictionary: vec![b"!".to_vec()],
            text: false,
            max_len: 64,
        },
    };

    #[test]
    fn a_panic_is_caught_reported_and_its_input_saved() {
        let crashes = std::env::temp_dir().join(format!("vmkit-fuzz-test-{}", std::process::id()));
        let settings = Settings {
            seed: 3,
            time: Some(Duration::from_secs(20)),
            runs: Some(100_000),
            case_timeout: Duration::from_secs(20),
            rss_limit_mb: 1 << 20,
            crashes: crashes.clone(),
            keep_going: false,
            extra_seeds: Vec::new(),
            progress: false,
        };
        let summary = fuzz(&BANG, &settings);
        assert_eq!(summary.findings.len(), 1, "{summary:?}");
        let finding = &summary.findings[0];
        assert!(finding.message.contains("found a bang"), "{finding:?}");
        assert!(finding.location.contains("runner.rs"), "{finding:?}");
        let input = std::fs::read(&finding.input).unwrap();
        assert!(input.contains(&b'!'));
        let report = std::fs::read_to_string(finding.input.with_extension("txt")).unwrap();
        assert!(report.contains("--replay"), "{report}");
        let _ = std::fs::remove_dir_all(&crashes);
    }

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        let mutator = (BANG.mutator)();
        let inputs = |seed| {
            let mut rng = Rng::new(seed);
            (0..50)
                .map(|_| mutator.mutate(&mut rng, b"hello world", b"other"))
                .collect::<Vec<_>>()
        };
        assert_eq!(inputs(9), inputs(9));
        assert_ne!(inputs(9), inputs(10));
    }
}
