//! The `keel-sim` command line: list scenarios, sweep seeds, replay one seed, and (with
//! the `mutants` feature) prove the checkers catch planted bugs.
//!
//! Wall-clock reads here only measure the sweep for its summary line; nothing the
//! simulated world computes depends on them.

use std::process::ExitCode;
use std::time::Instant;

use keel_sim::{run_seed, Outcome, SCENARIOS};

const USAGE: &str = "usage:
  keel-sim list
  keel-sim sweep [--scenario NAME|all] [--seeds N] [--start-seed S]
  keel-sim replay --scenario NAME --seed S [--trace]
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
}

fn parse_args(rest: &[String]) -> Result<Args, String> {
    let mut a = Args {
        scenario: "all".into(),
        seeds: 100,
        start_seed: 0,
        seed: None,
        trace: false,
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
    for op in &out.history {
        let req: Vec<String> = op
            .request
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        println!(
            "{:>8} ms  client {:>2}  {:<40} -> {:?}",
            op.invoke_ms,
            op.client,
            req.join(" "),
            String::from_utf8_lossy(&op.reply)
        );
    }
}

fn sweep(args: &Args) -> ExitCode {
    let started = Instant::now();
    let (mut failures, mut simulated_ms) = (Vec::new(), 0u64);
    for (n, seed) in (args.start_seed..args.start_seed.saturating_add(args.seeds)).enumerate() {
        let out = run_seed(seed);
        simulated_ms += out.simulated_ms;
        if out.failure.is_some() {
            failures.push(out);
        }
        if (n + 1) % 100 == 0 {
            eprint!(
                "\r{} / {} seeds, {} failed",
                n + 1,
                args.seeds,
                failures.len()
            );
        }
    }
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!();
    println!(
        "scenario plain-load: {} seeds, {} failed, {:.0}x simulated/wall time, {:.0} seeds per minute",
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
    if failures.is_empty() {
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
    let out = run_seed(seed);
    if args.trace {
        print_trace(&out);
    }
    println!(
        "seed {:#018x}: {:?}, trace hash {:#018x}, {} ops",
        seed,
        out.scenario,
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
        let caught = (0..args.seeds).find(|&s| {
            keel_sim::run_seed_with(s, |n| n.set_mutant(Some(m)))
                .failure
                .is_some()
        });
        match caught {
            Some(s) => println!("{:<32} caught by seed {s:#018x}", m.name()),
            None => {
                survived += 1;
                println!("{:<32} SURVIVED {} seeds", m.name(), args.seeds);
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
            println!("scenarios: {}", SCENARIOS.join(" "));
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
