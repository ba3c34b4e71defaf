//! The `keel-sim` command line: list scenarios, sweep seeds, replay one seed, and (with
//! the `mutants` feature) prove the checkers catch planted bugs.
//!
//! Wall-clock reads here only measure the sweep for its summary line; nothing the
//! simulated world computes depends on them.

use std::process::ExitCode;
use std::time::Instant;

use std::collections::BTreeSet;

use keel_sim::{missing_coverage, run_with, Outcome, SCENARIOS};

const USAGE: &str = "usage:
  keel-sim list
  keel-sim sweep [--scenario NAME|all] [--seeds N] [--start-seed S]
  keel-sim replay --scenario NAME --seed S [--trace] [--mutant NAME]
  keel-sim mutants [--seeds N]          (build with --features mutants)";

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
}

fn parse_args(rest: &[String]) -> Result<Args, String> {
    let mut a = Args {
        scenario: "all".into(),
        seeds: 100,
        start_seed: 0,
        seed: None,
        trace: false,
        mutant: None,
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

/// Sweeps one scenario; returns (failed seeds or missing coverage, simulated ms).
fn sweep_one(name: &str, args: &Args) -> (bool, u64) {
    let started = Instant::now();
    let (mut failures, mut simulated_ms) = (Vec::new(), 0u64);
    let mut reached = BTreeSet::new();
    for (n, seed) in (args.start_seed..args.start_seed.saturating_add(args.seeds)).enumerate() {
        let out = run_with(name, seed, false, &|_| {});
        simulated_ms += out.simulated_ms;
        reached.extend(out.reached.iter().copied());
        if out.failure.is_some() {
            failures.push(out);
        }
        if (n + 1) % 100 == 0 {
            eprint!(
                "\r{name}: {} / {} seeds, {} failed",
                n + 1,
                args.seeds,
                failures.len()
            );
        }
    }
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!();
    let missing = missing_coverage(name, &reached);
    println!(
        "scenario {name}: {} seeds, {} failed, {:.0}x simulated/wall time, {:.0} seeds per minute",
        args.seeds,
        failures.len(),
        simulated_ms as f64 / 1000.0 / wall,
        args.seeds as f64 / wall * 60.0
    );
    for f in &failures {
        println!(
            "FAILED seed {:#018x}: {}",
            f.seed,
            f.failure.as_deref().unwrap_or("")
        );
        println!("  replay: {}", f.replay_line());
    }
    for m in &missing {
        println!("NOT REACHED in scenario {name}: {m}");
    }
    (failures.is_empty() && missing.is_empty(), simulated_ms)
}

fn sweep(args: &Args) -> ExitCode {
    let started = Instant::now();
    let names = selected(&args.scenario);
    let (mut ok, mut simulated_ms) = (true, 0u64);
    for name in &names {
        let (passed, ms) = sweep_one(name, args);
        ok &= passed;
        simulated_ms += ms;
    }
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let seeds = args.seeds * names.len() as u64;
    println!(
        "total: {} scenarios, {seeds} seeds, {}, {:.0}x simulated/wall time, {:.0} seeds per minute, {:.1} s",
        names.len(),
        if ok { "all passed" } else { "FAILED" },
        simulated_ms as f64 / 1000.0 / wall,
        seeds as f64 / wall * 60.0,
        wall
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn replay(args: &Args) -> ExitCode {
    let Some(seed) = args.seed else {
        eprintln!("replay needs --seed\n{USAGE}");
        return ExitCode::from(2);
    };
    if args.scenario == "all" {
        eprintln!("replay needs --scenario NAME\n{USAGE}");
        return ExitCode::from(2);
    }
    let out = match &args.mutant {
        None => run_with(&args.scenario, seed, args.trace, &|_| {}),
        Some(name) => match run_mutant(&args.scenario, seed, args.trace, name) {
            Ok(out) => out,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
    };
    if args.trace {
        print_trace(&out);
    }
    println!(
        "{}\nseed {:#018x}: {:?}, reached {:?}, trace hash {:#018x}, {} ops",
        out.replay_line(),
        seed,
        out.scenario,
        out.reached,
        out.trace_hash,
        out.history.len()
    );
    match &out.failure {
        None => {
            println!("passed");
            ExitCode::SUCCESS
        }
        Some(f) => {
            println!("FAILED: {f}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "mutants")]
fn mutants(args: &Args) -> ExitCode {
    use keel_core::mutants::Mutant;
    let mut survived = 0;
    for m in Mutant::ALL {
        match keel_sim::first_catch(m, args.seeds) {
            Some((name, s)) => println!(
                "{:<32} caught: keel-sim replay --scenario {name} --seed {s:#018x} --mutant {}",
                m.name(),
                m.name()
            ),
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

#[cfg(feature = "mutants")]
fn run_mutant(scenario: &str, seed: u64, trace: bool, name: &str) -> Result<Outcome, String> {
    let m = keel_core::mutants::Mutant::from_name(name)
        .ok_or_else(|| format!("unknown mutant '{name}' (keel-sim list)"))?;
    Ok(run_with(scenario, seed, trace, &|n| n.set_mutant(Some(m))))
}

#[cfg(not(feature = "mutants"))]
fn run_mutant(_: &str, _: u64, _: bool, _: &str) -> Result<Outcome, String> {
    Err("--mutant needs a build with --features mutants".into())
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
        "mutants" => mutants(&args),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
