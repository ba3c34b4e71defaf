//! The `keel-sim` command line: list scenarios, sweep seeds (in parallel with
//! `--jobs`), replay one seed or a plan file, shrink a failing seed to a small plan,
//! write the chaos report, and (with the `mutants` feature) prove the checkers catch
//! planted bugs.
//!
//! Wall-clock reads and threads live only here: they measure and spread independent
//! seeds over cores; nothing the simulated world computes depends on them.

/// The simulator allocates per event; mimalloc runs it ~20% faster than glibc's
/// malloc (a run is the same either way: nothing reads addresses).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use keel_core::Node;
use keel_sim::{
    missing_coverage, report, run_plan, shrink, Checker, Checks, Outcome, Plan, RunOptions,
    SCENARIOS,
};

const USAGE: &str = "usage:
  keel-sim list
  keel-sim sweep [--scenario NAME|all] [--seeds N] [--start-seed S] [--jobs J] [--mutant M] [--checkers LIST] [--duration SECS] [--seed-timeout SECS]
  keel-sim replay --scenario NAME --seed S [--trace] [--mutant M] [--checkers LIST] [--duration SECS]
  keel-sim replay --plan FILE [--trace] [--mutant M] [--checkers LIST]
  keel-sim shrink --scenario NAME --seed S [--mutant M] --out FILE [--max-runs N]
  keel-sim report --out DIR [--seeds N] [--start-seed S] [--scenario NAME|all] [--mutant M]
  keel-sim mutants [--seeds N]          (build with --features mutants)
  keel-sim traffic-spike [--seed S]     (allkeys-lru cache takes a burst of new keys)
  --checkers: comma-separated from model, linearizability, elle, resource, shadow, durability (default all)
  --duration: each seed's run lasts at least SECS of simulated time (1 to 3600; its
              workload and fault plan are stretched to fill it)";

fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

struct Args {
    scenario: String,
    seeds: u64,
    start_seed: u64,
    seed: Option<u64>,
    trace: bool,
    mutant: Option<String>,
    jobs: usize,
    plan: Option<String>,
    out: Option<String>,
    max_runs: usize,
    checks: Checks,
    /// `--duration`, in simulated ms (0: each scenario's own length).
    duration_ms: u64,
    /// `--seed-timeout`: wall seconds one seed of a sweep may run before the sweep
    /// calls it hung (a seed normally takes milliseconds to seconds).
    seed_timeout_s: u64,
}

fn parse_args(rest: &[String]) -> Result<Args, String> {
    let mut a = Args {
        scenario: "all".into(),
        seeds: 100,
        start_seed: 0,
        seed: None,
        trace: false,
        mutant: None,
        jobs: 1,
        plan: None,
        out: None,
        max_runs: 2_000,
        checks: Checks::default(),
        duration_ms: 0,
        seed_timeout_s: 300,
    };
    let mut i = 0;
    while i < rest.len() {
        let value = rest.get(i + 1).map(String::as_str);
        match (rest[i].as_str(), value) {
            ("--scenario", Some(v)) => a.scenario = v.to_string(),
            ("--seeds", Some(v)) => a.seeds = parse_u64(v).ok_or("--seeds takes a number")?,
            ("--start-seed", Some(v)) => {
                a.start_seed = parse_u64(v).ok_or("--start-seed takes a number")?
            }
            ("--seed", Some(v)) => {
                a.seed = Some(parse_u64(v).ok_or("--seed takes a number (hex with 0x)")?)
            }
            ("--mutant", Some(v)) => a.mutant = Some(v.to_string()),
            ("--jobs", Some(v)) => {
                a.jobs = parse_u64(v)
                    .filter(|&j| (1..=256).contains(&j))
                    .ok_or("--jobs takes a number from 1 to 256")? as usize
            }
            ("--plan", Some(v)) => a.plan = Some(v.to_string()),
            ("--out", Some(v)) => a.out = Some(v.to_string()),
            ("--max-runs", Some(v)) => {
                a.max_runs = parse_u64(v).ok_or("--max-runs takes a number")? as usize
            }
            ("--checkers", Some(v)) => a.checks = Checks::parse(v)?,
            ("--duration", Some(v)) => {
                let secs = parse_u64(v)
                    .filter(|s| (1..=3_600).contains(s))
                    .ok_or("--duration takes simulated seconds from 1 to 3600")?;
                a.duration_ms = secs * 1_000;
            }
            ("--seed-timeout", Some(v)) => {
                a.seed_timeout_s = parse_u64(v)
                    .filter(|&s| s >= 1)
                    .ok_or("--seed-timeout takes wall seconds (at least 1)")?
            }
            ("--trace", _) => {
                a.trace = true;
                i += 1;
                continue;
            }
            (other, _) => return Err(format!("unknown or incomplete option '{other}'")),
        }
        i += 2;
    }
    if a.scenario != "all" && !SCENARIOS.contains(&a.scenario.as_str()) {
        return Err(format!("unknown scenario '{}' (keel-sim list)", a.scenario));
    }
    Ok(a)
}

/// What to do to every node of a run: plant the named mutant, or nothing.
type Setup = Box<dyn Fn(&mut Node) + Send + Sync>;

#[cfg(feature = "mutants")]
fn setup_for(mutant: Option<&str>) -> Result<Setup, String> {
    let Some(name) = mutant else {
        return Ok(Box::new(|_: &mut Node| {}));
    };
    let m = keel_core::mutants::Mutant::from_name(name)
        .ok_or_else(|| format!("unknown mutant '{name}' (keel-sim list)"))?;
    Ok(Box::new(move |n: &mut Node| n.set_mutant(Some(m))))
}

#[cfg(not(feature = "mutants"))]
fn setup_for(mutant: Option<&str>) -> Result<Setup, String> {
    match mutant {
        None => Ok(Box::new(|_: &mut Node| {})),
        Some(_) => Err("--mutant needs a build with --features mutants".into()),
    }
}

fn options<'a>(setup: &'a Setup, trace: bool, checks: Checks) -> RunOptions<'a> {
    RunOptions {
        trace,
        setup: setup.as_ref(),
        checks,
    }
}

fn print_trace(out: &Outcome) {
    for line in &out.trace {
        println!("{line}");
    }
    for op in &out.history {
        println!(
            "op {:>8} ms  client {:>2}  {:<40} -> {:?} ({:?})",
            op.invoke_ms,
            op.client,
            op.request
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            String::from_utf8_lossy(&op.reply),
            op.outcome
        );
    }
}

fn selected(scenario: &str) -> Vec<&'static str> {
    SCENARIOS
        .iter()
        .copied()
        .filter(|s| scenario == "all" || *s == scenario)
        .collect()
}

/// What a sweep keeps of one seed's run.
struct SeedResult {
    scenario: usize,
    seed: u64,
    simulated_ms: u64,
    reached: BTreeSet<&'static str>,
    failure: Option<(String, String)>,
    /// Linearizability: per-key histories checked, and how many were too big.
    lin_histories: usize,
    lin_too_big: usize,
    /// Elle: transactions judged, and how many committed.
    elle_txns: usize,
    elle_committed: usize,
    /// The checkers that rejected the run.
    rejected_by: Vec<Checker>,
    coverage: keel_sim::coverage::Coverage,
}

/// What one sweep job runs: (scenario index, seed, since when), or nothing.
type Running = Mutex<Option<(usize, u64, Instant)>>;

fn set_running(slot: &Running, what: Option<(usize, u64, Instant)>) {
    if let Ok(mut s) = slot.lock() {
        *s = what;
    }
}

/// A seed that has run past `--seed-timeout` is hung: a loop in the node or a checker
/// that never ends. Its thread cannot be stopped, so the sweep names it, with the
/// line that replays it, and exits (status 3).
fn watchdog(running: &[Running], names: &[&str], args: &Args) {
    for slot in running {
        let Ok(s) = slot.lock() else { continue };
        let Some((scenario, seed, since)) = *s else {
            continue;
        };
        let secs = since.elapsed().as_secs();
        if secs < args.seed_timeout_s {
            continue;
        }
        let mut line = format!(
            "keel-sim replay --scenario {} --seed {seed:#018x}",
            names[scenario]
        );
        if args.duration_ms > 0 {
            line.push_str(&format!(" --duration {}", args.duration_ms / 1_000));
        }
        if let Some(m) = &args.mutant {
            line.push_str(&format!(" --mutant {m}"));
        }
        eprintln!(
            "\nHUNG: {} seed {seed:#x} has run {secs} s of wall time (--seed-timeout {}): \
             the node or a checker never returned\nreplay: {line}",
            names[scenario], args.seed_timeout_s
        );
        std::process::exit(3);
    }
}

fn sweep(args: &Args) -> ExitCode {
    let setup = match setup_for(args.mutant.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let names = selected(&args.scenario);
    let work: Vec<(usize, u64)> = (0..names.len())
        .flat_map(|s| {
            (args.start_seed..args.start_seed.saturating_add(args.seeds)).map(move |seed| (s, seed))
        })
        .collect();
    let total = work.len();
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<SeedResult>();
    let mut results: Vec<SeedResult> = Vec::with_capacity(total);
    // What each job runs and since when, for the watchdog below.
    let running: Vec<Running> = (0..args.jobs).map(|_| Mutex::new(None)).collect();
    // Parallelism across seeds only: each seed is a separate, single-threaded world
    // whose every input comes from its own seed, so which thread runs it, and when,
    // cannot change its trace; results are sorted back into seed order below.
    std::thread::scope(|scope| {
        for slot in &running {
            let tx = tx.clone();
            let (work, next, names, setup) = (&work, &next, &names, &setup);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(scenario, seed)) = work.get(i) else {
                    break;
                };
                set_running(slot, Some((scenario, seed, Instant::now())));
                let out = run_plan(
                    &Plan::generate_for(names[scenario], seed, args.duration_ms),
                    options(setup, false, args.checks),
                );
                set_running(slot, None);
                let failure = out.failure.clone().map(|f| {
                    let mut line = out.replay_line();
                    if args.duration_ms > 0 {
                        line.push_str(&format!(" --duration {}", args.duration_ms / 1_000));
                    }
                    if let Some(m) = &args.mutant {
                        line.push_str(&format!(" --mutant {m}"));
                    }
                    (f, line)
                });
                let lin = out.linearizability.unwrap_or_default();
                let result = SeedResult {
                    coverage: out.coverage,
                    scenario,
                    seed,
                    simulated_ms: out.simulated_ms,
                    reached: out.reached,
                    failure,
                    lin_histories: lin.histories,
                    lin_too_big: lin.too_big,
                    elle_txns: out.elle.as_ref().map_or(0, |e| e.report.txns),
                    elle_committed: out.elle.as_ref().map_or(0, |e| e.report.committed),
                    rejected_by: out
                        .verdicts
                        .iter()
                        .filter(|(_, v)| v.is_some())
                        .map(|(c, _)| *c)
                        .collect(),
                };
                if tx.send(result).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let step = (total / 100).max(1);
        let mut shown = 0;
        loop {
            let r = match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(r) => r,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    watchdog(&running, &names, args);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            results.push(r);
            let done = results.len();
            if done - shown >= step || done == total {
                shown = done;
                let failed = results.iter().filter(|r| r.failure.is_some()).count();
                let width = 30;
                let filled = done * width / total.max(1);
                eprint!(
                    "\r[{}{}] {done}/{total} seeds, {failed} failed",
                    "#".repeat(filled),
                    " ".repeat(width - filled)
                );
                let _ = std::io::stderr().flush();
            }
        }
    });
    eprintln!();
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    results.sort_by_key(|r| (r.scenario, r.seed));
    let mut ok = true;
    for (s, name) in names.iter().enumerate() {
        let mine: Vec<&SeedResult> = results.iter().filter(|r| r.scenario == s).collect();
        let reached: BTreeSet<&'static str> = mine
            .iter()
            .flat_map(|r| r.reached.iter().copied())
            .collect();
        let failed: Vec<&SeedResult> = mine
            .iter()
            .copied()
            .filter(|r| r.failure.is_some())
            .collect();
        let missing = missing_coverage(name, &reached);
        println!(
            "scenario {name}: {} seeds, {} failed, {} simulated s, linearizability: {} per-key histories, {} too big to check",
            mine.len(),
            failed.len(),
            mine.iter().map(|r| r.simulated_ms).sum::<u64>() / 1000,
            mine.iter().map(|r| r.lin_histories).sum::<usize>(),
            mine.iter().map(|r| r.lin_too_big).sum::<usize>(),
        );
        let elle_txns: usize = mine.iter().map(|r| r.elle_txns).sum();
        if elle_txns > 0 {
            println!(
                "  elle: {elle_txns} transactions, {} committed, checked for G0, G1, G2, lost appends and real-time order",
                mine.iter().map(|r| r.elle_committed).sum::<usize>()
            );
        }
        let verdicts: Vec<String> = Checker::ALL
            .into_iter()
            .filter(|&c| args.checks.enabled(c))
            .map(|c| {
                let n = mine.iter().filter(|r| r.rejected_by.contains(&c)).count();
                format!(
                    "{} {}",
                    c.name(),
                    if n == 0 {
                        "pass".to_string()
                    } else {
                        format!("FAIL on {n} seeds")
                    }
                )
            })
            .collect();
        println!("  verdicts: {}", verdicts.join(", "));
        for r in &failed {
            if let Some((f, line)) = &r.failure {
                println!("FAILED seed {:#018x}: {f}", r.seed);
                println!("  replay: {line}");
            }
        }
        for m in &missing {
            println!("NOT REACHED in scenario {name}: {m}");
        }
        ok &= failed.is_empty() && missing.is_empty();
    }
    let mut coverage = keel_sim::coverage::Coverage::default();
    for r in &results {
        coverage.merge(&r.coverage);
    }
    print!("{}", coverage.text());
    let wide_seeds = keel_sim::coverage::WIDE_SCENARIOS
        .iter()
        .map(|w| results.iter().filter(|r| names[r.scenario] == *w).count() as u64)
        .min()
        .unwrap_or(0);
    if let Err(why) = coverage.verdict(wide_seeds) {
        println!("COVERAGE FAILED: {why}");
        ok = false;
    }
    let simulated_s = results.iter().map(|r| r.simulated_ms).sum::<u64>() as f64 / 1000.0;
    let failures = results.iter().filter(|r| r.failure.is_some()).count();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let used = args.jobs.min(cores).max(1);
    let per_minute = total as f64 / wall * 60.0;
    println!(
        "total: {} scenarios, {total} seeds, {failures} failed, {}, {:.0}x simulated/wall time, \
         {per_minute:.0} seeds per minute, {:.0} seeds per minute per core ({} jobs on {cores} cores), {wall:.1} s",
        names.len(),
        if ok { "all passed" } else { "FAILED" },
        simulated_s / wall,
        per_minute / used as f64,
        args.jobs,
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn load_plan(path: &str) -> Result<Plan, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Plan::from_json(&text).map_err(|e| format!("{path}: {e}"))
}

fn replay(args: &Args) -> ExitCode {
    let setup = match setup_for(args.mutant.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let (plan, line) = match (&args.plan, args.seed) {
        (Some(path), _) => match load_plan(path) {
            Ok(p) => (p, format!("keel-sim replay --plan {path}")),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        (None, Some(seed)) if args.scenario != "all" => {
            let plan = Plan::generate_for(&args.scenario, seed, args.duration_ms);
            let mut line = format!(
                "keel-sim replay --scenario {} --seed {seed:#018x}",
                args.scenario
            );
            if args.duration_ms > 0 {
                line.push_str(&format!(" --duration {}", args.duration_ms / 1_000));
            }
            (plan, line)
        }
        _ => {
            eprintln!("replay needs --scenario NAME --seed S, or --plan FILE\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let out = run_plan(&plan, options(&setup, args.trace, args.checks));
    let wall_s = started.elapsed().as_secs_f64().max(1e-9);
    if args.trace {
        print_trace(&out);
    }
    let mutant = args
        .mutant
        .as_ref()
        .map(|m| format!(" --mutant {m}"))
        .unwrap_or_default();
    println!(
        "{line}{mutant}\nplan: {} faults, {} ops; reached {:?}; trace hash {:#018x}; {} ops run",
        plan.scenario.faults.len(),
        plan.ops.len(),
        out.reached,
        out.trace_hash,
        out.history.len()
    );
    println!(
        "simulated {:.1} s in {wall_s:.2} s wall ({:.0}x simulated/wall)",
        out.simulated_ms as f64 / 1000.0,
        out.simulated_ms as f64 / 1000.0 / wall_s
    );
    if let Some(l) = &out.linearizability {
        println!(
            "linearizability: {} histories, {} ops, {} too big to check, {}",
            l.histories,
            l.ops,
            l.too_big,
            if l.violation.is_some() {
                "VIOLATED"
            } else {
                "no violation"
            }
        );
    }
    for (checker, verdict) in &out.verdicts {
        match verdict {
            None => println!("  {}: pass", checker.name()),
            Some(why) => println!("  {}: FAIL {why}", checker.name()),
        }
    }
    match &out.failure {
        None => {
            println!("passed");
            ExitCode::SUCCESS
        }
        Some(f) => {
            let checker = out.failed_checker.map_or("?", |c| c.name());
            println!("FAILED ({checker}): {f}");
            ExitCode::FAILURE
        }
    }
}

fn shrink_cmd(args: &Args) -> ExitCode {
    let (Some(seed), Some(out_path)) = (args.seed, args.out.as_ref()) else {
        eprintln!("shrink needs --scenario NAME --seed S --out FILE\n{USAGE}");
        return ExitCode::from(2);
    };
    if args.scenario == "all" {
        eprintln!("shrink needs --scenario NAME\n{USAGE}");
        return ExitCode::from(2);
    }
    let setup = match setup_for(args.mutant.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let plan = Plan::generate(&args.scenario, seed);
    let started = Instant::now();
    // With a mutant, the final plan is re-run without it: it must pass there.
    let no_bug: Setup = Box::new(|_: &mut Node| {});
    let without_bug = args
        .mutant
        .is_some()
        .then(|| options(&no_bug, false, args.checks));
    let Some(shrunk) = shrink::shrink(
        &plan,
        options(&setup, false, args.checks),
        without_bug,
        args.max_runs,
    ) else {
        println!(
            "seed {seed:#018x} of {} passes: nothing to shrink",
            args.scenario
        );
        return ExitCode::FAILURE;
    };
    if let Err(e) = std::fs::write(out_path, shrunk.plan.to_json()) {
        eprintln!("{out_path}: {e}");
        return ExitCode::from(2);
    }
    let mutant = args
        .mutant
        .as_ref()
        .map(|m| format!(" --mutant {m}"))
        .unwrap_or_default();
    println!(
        "shrunk {} seed {seed:#018x} ({}): plan size {} -> {} (faults {} -> {}, ops {} -> {}) in {} runs, {:.1} s",
        args.scenario,
        shrunk.signature,
        shrunk.size_before,
        shrunk.size_after,
        plan.scenario.faults.len(),
        shrunk.plan.scenario.faults.len(),
        plan.ops.len(),
        shrunk.plan.ops.len(),
        shrunk.runs,
        started.elapsed().as_secs_f64()
    );
    println!("still fails: {}", shrunk.failure);
    println!("replay: keel-sim replay --plan {out_path}{mutant}");
    match &shrunk.without_bug {
        None => ExitCode::SUCCESS,
        Some(None) => {
            println!("without the mutant the plan passes: it reproduces the bug");
            ExitCode::SUCCESS
        }
        Some(Some(f)) => {
            println!("WITHOUT the mutant the plan fails too (a false reproduction): {f}");
            ExitCode::FAILURE
        }
    }
}

fn report_cmd(args: &Args) -> ExitCode {
    let Some(dir) = args.out.as_ref() else {
        eprintln!("report needs --out DIR\n{USAGE}");
        return ExitCode::from(2);
    };
    let setup = match setup_for(args.mutant.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let names = selected(&args.scenario);
    let started = Instant::now();
    let rep = report::build(
        &names,
        args.start_seed,
        args.seeds,
        setup.as_ref(),
        args.mutant.as_deref(),
    );
    let wall = started.elapsed().as_secs_f64();
    let dir = std::path::Path::new(dir);
    let written = std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(dir.join("report.md"), rep.markdown()))
        .and_then(|_| std::fs::write(dir.join("report.html"), rep.html()));
    if let Err(e) = written {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::from(2);
    }
    println!(
        "wrote {0}/report.md and {0}/report.html: {1} scenarios x {2} seeds (each run twice), {3} failures, {wall:.1} s",
        dir.display(),
        names.len(),
        args.seeds,
        rep.total_failures()
    );
    let coverage = rep.coverage_verdict();
    if let Err(why) = &coverage {
        println!("COVERAGE FAILED: {why}");
    }
    if rep.total_failures() == 0 && coverage.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(feature = "mutants")]
fn mutants(args: &Args) -> ExitCode {
    use keel_core::mutants::Mutant;
    let mut survived = 0;
    let names = |by: &[Checker]| by.iter().map(|c| c.name()).collect::<Vec<_>>().join("+");
    // Which checkers catch it on their own: the same search with the model off.
    let without_model = Checks {
        model: false,
        ..Checks::default()
    };
    if args.scenario != "all" {
        // One scenario's catch table: how many seeds of it catch each planted bug.
        for m in Mutant::ALL.into_iter().chain(Mutant::PENDING) {
            let (caught, first) = keel_sim::catches_in(m, &args.scenario, args.seeds);
            let first = first.map_or("-".to_string(), |(s, by)| {
                format!("first {s:#x} by {}", names(&by))
            });
            println!(
                "{:<32} {caught:>4} of {} seeds of {} ({first})",
                m.name(),
                args.seeds,
                args.scenario
            );
        }
        return ExitCode::SUCCESS;
    }
    for m in Mutant::ALL {
        match keel_sim::first_catch_by(m, args.seeds, Checks::default()) {
            Some((name, s, by)) => {
                let others = match keel_sim::first_catch_by(m, args.seeds, without_model) {
                    Some((n2, s2, by2)) => format!("{} (at {n2} {s2:#x})", names(&by2)),
                    None => "none".to_string(),
                };
                println!(
                    "{:<32} caught by {} at {name} {s:#x}; without the model: {others}; replay: keel-sim replay --scenario {name} --seed {s:#018x} --mutant {}",
                    m.name(),
                    names(&by),
                    m.name()
                );
            }
            None => {
                survived += 1;
                println!(
                    "{:<32} SURVIVED {} seeds of every scenario",
                    m.name(),
                    args.seeds
                );
            }
        }
    }
    if survived == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(not(feature = "mutants"))]
fn mutants(_args: &Args) -> ExitCode {
    eprintln!("keel-sim was built without planted bugs: cargo run -p keel-sim --features mutants -- mutants");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = argv.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let args = match parse_args(&argv[1..]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match cmd.as_str() {
        "list" => {
            println!("scenarios:");
            for d in keel_sim::SCENARIO_DEFS {
                println!("  {:<20} must reach: {}", d.name, d.must_reach.join("; "));
            }
            println!(
                "mutants:   {}",
                keel_core::mutants::Mutant::ALL.map(|m| m.name()).join(" ")
            );
            ExitCode::SUCCESS
        }
        "sweep" => sweep(&args),
        "replay" => replay(&args),
        "shrink" => shrink_cmd(&args),
        "report" => report_cmd(&args),
        "mutants" => mutants(&args),
        "traffic-spike" => {
            let windows = keel_sim::traffic_spike::run(args.seed.unwrap_or(7), 3, 3, 4);
            print!("{}", keel_sim::traffic_spike::report(&windows));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
