//! The chaos report: per scenario, seeds run, failures, each checker's verdict, fault
//! counts, operation latency percentiles and availability, and for every failure a
//! timeline and the replay command. Rendered as Markdown and as one self-contained
//! HTML page (inline CSS, no external assets).
//!
//! Everything in it comes from simulated runs, so the same sweep renders the same
//! bytes; nothing measured on the wall clock belongs here (the CLI prints speed).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::{missing_coverage, run_plan, scenario_def, Checker, Node, OpOutcome, Plan, RunOptions};

/// Lines of a failure's timeline kept at its start and before its end.
const TIMELINE_HEAD_LINES: usize = 10;
const TIMELINE_TAIL_LINES: usize = 40;

/// One failed seed.
#[derive(Debug, Clone)]
pub struct FailureReport {
    pub seed: u64,
    pub checker: Option<Checker>,
    pub failure: String,
    pub replay: String,
    pub timeline: Vec<String>,
    /// The same run drawn: faults as bands, operations as marks (`timeline.rs`).
    pub picture: crate::timeline::Timeline,
}

/// One scenario's sweep.
#[derive(Debug, Clone, Default)]
pub struct ScenarioReport {
    pub name: String,
    pub seeds: u64,
    pub start_seed: u64,
    pub failures: Vec<FailureReport>,
    /// Failed seeds per checker.
    pub failed_by: BTreeMap<&'static str, usize>,
    pub lin_histories: usize,
    pub lin_ops: usize,
    pub lin_too_big: usize,
    pub lin_violations: usize,
    /// Transactions the Elle checker judged, and how many of them committed.
    pub elle_txns: usize,
    pub elle_committed: usize,
    pub deterministic_seeds: u64,
    pub nondeterministic: Vec<u64>,
    pub reached: BTreeSet<&'static str>,
    pub not_reached: Vec<&'static str>,
    pub faults: BTreeMap<&'static str, usize>,
    pub ops_ok: usize,
    pub ops_fail: usize,
    pub ops_unknown: usize,
    /// Completed operations' latencies in simulated ms, sorted.
    pub latencies_ms: Vec<u64>,
    pub simulated_ms: u64,
    /// Commands run and encodings reached over the scenario's seeds.
    pub coverage: crate::coverage::Coverage,
}

impl ScenarioReport {
    /// Nearest-rank percentile of the completed operations' latencies.
    pub fn percentile_ms(&self, p: u64) -> u64 {
        let n = self.latencies_ms.len() as u64;
        if n == 0 {
            return 0;
        }
        let rank = (p * n).div_ceil(100).clamp(1, n);
        self.latencies_ms[(rank - 1) as usize]
    }

    /// ok / (ok + fail + unknown), in percent.
    pub fn availability_pct(&self) -> f64 {
        let all = self.ops_ok + self.ops_fail + self.ops_unknown;
        if all == 0 {
            return 100.0;
        }
        self.ops_ok as f64 * 100.0 / all as f64
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub scenarios: Vec<ScenarioReport>,
    /// Planted bug the runs used, if any.
    pub mutant: Option<String>,
}

/// Keeps the start and the end of a long timeline.
fn truncate_timeline(lines: Vec<String>) -> Vec<String> {
    if lines.len() <= TIMELINE_HEAD_LINES + TIMELINE_TAIL_LINES + 1 {
        return lines;
    }
    let skipped = lines.len() - TIMELINE_HEAD_LINES - TIMELINE_TAIL_LINES;
    let mut out: Vec<String> = lines[..TIMELINE_HEAD_LINES].to_vec();
    out.push(format!("         ... {skipped} lines left out ..."));
    out.extend_from_slice(&lines[lines.len() - TIMELINE_TAIL_LINES..]);
    out
}

/// Sweeps one scenario for the report: every seed runs twice (determinism), failing
/// seeds a third time with a trace for their timeline.
pub fn sweep_scenario(
    name: &str,
    start_seed: u64,
    seeds: u64,
    options: RunOptions<'_>,
    mutant: Option<&str>,
) -> ScenarioReport {
    let mut r = ScenarioReport {
        name: name.to_string(),
        seeds,
        start_seed,
        ..ScenarioReport::default()
    };
    for seed in start_seed..start_seed.saturating_add(seeds) {
        let plan = Plan::generate(name, seed);
        for f in &plan.scenario.faults {
            *r.faults.entry(f.fault.kind()).or_default() += 1;
        }
        let out = run_plan(&plan, options);
        let again = run_plan(&plan, options);
        if out.trace_hash == again.trace_hash {
            r.deterministic_seeds += 1;
        } else {
            r.nondeterministic.push(seed);
        }
        r.simulated_ms += out.simulated_ms;
        r.coverage.merge(&out.coverage);
        r.reached.extend(out.reached.iter().copied());
        if let Some(l) = &out.linearizability {
            r.lin_histories += l.histories;
            r.lin_ops += l.ops;
            r.lin_too_big += l.too_big;
            r.lin_violations += usize::from(l.violation.is_some());
        }
        if let Some(e) = &out.elle {
            r.elle_txns += e.report.txns;
            r.elle_committed += e.report.committed;
        }
        for op in &out.history {
            match op.outcome {
                OpOutcome::Ok => r.ops_ok += 1,
                OpOutcome::Fail => r.ops_fail += 1,
                OpOutcome::Unknown | OpOutcome::Pending => r.ops_unknown += 1,
            }
            if let Some(done) = op.complete_ms {
                r.latencies_ms.push(done.saturating_sub(op.invoke_ms));
            }
        }
        if let Some(failure) = out.failure.clone() {
            let checker = out.failed_checker;
            *r.failed_by
                .entry(checker.map_or("?", Checker::name))
                .or_default() += 1;
            let traced = run_plan(
                &plan,
                RunOptions {
                    trace: true,
                    ..options
                },
            );
            let mut replay = out.replay_line();
            if let Some(m) = mutant {
                replay.push_str(&format!(" --mutant {m}"));
            }
            r.failures.push(FailureReport {
                seed,
                checker,
                failure,
                replay,
                timeline: truncate_timeline(traced.trace),
                picture: crate::timeline::Timeline::of_run(&plan, &out),
            });
        }
    }
    r.latencies_ms.sort_unstable();
    r.not_reached = missing_coverage(name, &r.reached);
    r
}

/// Builds the report over `scenarios`, `seeds` seeds each from `start_seed`.
pub fn build(
    scenarios: &[&str],
    start_seed: u64,
    seeds: u64,
    setup: &dyn Fn(&mut Node),
    mutant: Option<&str>,
) -> Report {
    let options = RunOptions {
        setup,
        ..RunOptions::default()
    };
    Report {
        scenarios: scenarios
            .iter()
            .map(|name| sweep_scenario(name, start_seed, seeds, options, mutant))
            .collect(),
        mutant: mutant.map(str::to_string),
    }
}

fn verdict(failed: usize) -> String {
    if failed == 0 {
        "pass".into()
    } else {
        format!("FAIL ({failed})")
    }
}

impl ScenarioReport {
    fn model_verdict(&self) -> String {
        verdict(self.failed_by.get("model").copied().unwrap_or(0))
    }
    fn lin_verdict(&self) -> String {
        verdict(self.lin_violations)
    }
    fn elle_verdict(&self) -> String {
        verdict(self.failed_by.get("elle").copied().unwrap_or(0))
    }
    fn determinism_verdict(&self) -> String {
        format!("{}/{} identical", self.deterministic_seeds, self.seeds)
    }
    fn coverage_verdict(&self) -> String {
        let must = scenario_def(&self.name).map_or(0, |d| d.must_reach.len());
        format!("{}/{must} reached", must - self.not_reached.len())
    }
    fn fault_list(&self) -> String {
        if self.faults.is_empty() {
            return "none".into();
        }
        self.faults
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
    fn latency_line(&self) -> String {
        format!(
            "p50 {} · p90 {} · p99 {} · max {}",
            self.percentile_ms(50),
            self.percentile_ms(90),
            self.percentile_ms(99),
            self.latencies_ms.last().copied().unwrap_or(0)
        )
    }
    fn seed_range(&self) -> String {
        format!(
            "{:#x}..={:#x}",
            self.start_seed,
            self.start_seed + self.seeds.saturating_sub(1)
        )
    }
}

impl Report {
    /// The whole sweep's command coverage (every scenario's merged).
    pub fn coverage(&self) -> crate::coverage::Coverage {
        let mut c = crate::coverage::Coverage::default();
        for s in &self.scenarios {
            c.merge(&s.coverage);
        }
        c
    }

    /// The coverage verdict over the sweep (see `Coverage::verdict`).
    pub fn coverage_verdict(&self) -> Result<(), String> {
        let wide_seeds = crate::coverage::WIDE_SCENARIOS
            .iter()
            .map(|w| {
                self.scenarios
                    .iter()
                    .filter(|s| s.name == *w)
                    .map(|s| s.seeds)
                    .sum::<u64>()
            })
            .min()
            .unwrap_or(0);
        self.coverage().verdict(wide_seeds)
    }

    pub fn total_failures(&self) -> usize {
        self.scenarios.iter().map(|s| s.failures.len()).sum()
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# keel-sim chaos report\n");
        if let Some(m) = &self.mutant {
            let _ = writeln!(md, "Planted bug: `{m}`.\n");
        }
        let _ = writeln!(
            md,
            "Every seed runs twice (determinism compares trace hashes). Latencies are in \
             simulated milliseconds; availability is ok / (ok + fail + unknown), where fail \
             counts every error reply (also correct ones such as `-ERR value is not an \
             integer`).\n"
        );
        let _ = writeln!(md, "## Summary\n");
        let _ = writeln!(
            md,
            "| scenario | seeds | failures | model | linearizability | too big | determinism | coverage | availability | p99 ms |"
        );
        let _ = writeln!(md, "|---|---:|---:|---|---|---:|---|---|---:|---:|");
        for s in &self.scenarios {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2}% | {} |",
                s.name,
                s.seeds,
                s.failures.len(),
                s.model_verdict(),
                s.lin_verdict(),
                s.lin_too_big,
                s.determinism_verdict(),
                s.coverage_verdict(),
                s.availability_pct(),
                s.percentile_ms(99)
            );
        }
        for s in &self.scenarios {
            let _ = writeln!(md, "\n## {}\n", s.name);
            let _ = writeln!(
                md,
                "- seeds: {} ({}), failures: {}, simulated time: {} ms",
                s.seeds,
                s.seed_range(),
                s.failures.len(),
                s.simulated_ms
            );
            let _ = writeln!(md, "- model check: {}", s.model_verdict());
            let _ = writeln!(
                md,
                "- linearizability: {} — {} per-key histories, {} operations, {} too big to check",
                s.lin_verdict(),
                s.lin_histories,
                s.lin_ops,
                s.lin_too_big
            );
            if s.elle_txns > 0 {
                let _ = writeln!(
                    md,
                    "- elle (MULTI/EXEC list-append): {} — {} transactions, {} committed",
                    s.elle_verdict(),
                    s.elle_txns,
                    s.elle_committed
                );
            }
            let resource = s.failed_by.get("resource").copied().unwrap_or(0);
            let _ = writeln!(md, "- resource and liveness: {}", verdict(resource));
            let _ = writeln!(md, "- determinism: {}", s.determinism_verdict());
            if !s.nondeterministic.is_empty() {
                let _ = writeln!(md, "  - NOT deterministic: {:?}", s.nondeterministic);
            }
            let _ = writeln!(md, "- coverage: {}", s.coverage_verdict());
            for m in &s.not_reached {
                let _ = writeln!(md, "  - NOT reached: {m}");
            }
            let _ = writeln!(md, "- faults: {}", s.fault_list());
            let _ = writeln!(
                md,
                "- operations: {} ok, {} failed, {} unknown; availability {:.2}%",
                s.ops_ok,
                s.ops_fail,
                s.ops_unknown,
                s.availability_pct()
            );
            let _ = writeln!(md, "- latency (simulated ms): {}", s.latency_line());
            for f in &s.failures {
                let _ = writeln!(
                    md,
                    "\n### {} seed {:#018x} — {}\n",
                    s.name,
                    f.seed,
                    f.checker.map_or("?", Checker::name)
                );
                let _ = writeln!(md, "{}\n", f.failure);
                let _ = writeln!(md, "Replay: `{}`\n", f.replay);
                let _ = writeln!(md, "```text");
                for line in &f.timeline {
                    let _ = writeln!(md, "{line}");
                }
                let _ = writeln!(md, "```");
            }
        }
        let _ = writeln!(md, "\n## Command coverage\n");
        if let Err(why) = self.coverage_verdict() {
            let _ = writeln!(md, "FAILED: {why}\n");
        }
        md.push_str(&self.coverage().markdown());
        md
    }

    pub fn html(&self) -> String {
        let mut h = String::new();
        h.push_str(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>keel-sim chaos report</title>\n<style>\
             body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}\
             table{border-collapse:collapse;margin:1em 0}\
             th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
             th{background:#f3f3f3}td.n{text-align:right}\
             .pass{color:#176f2c;font-weight:600}.fail{color:#b00020;font-weight:600}\
             pre{background:#f7f7f7;border:1px solid #ddd;padding:.6em;overflow-x:auto;font-size:12px}\
             code{background:#f3f3f3;padding:0 .2em}section{margin-top:2em}\
             </style></head><body>\n<h1>keel-sim chaos report</h1>\n",
        );
        if let Some(m) = &self.mutant {
            let _ = writeln!(h, "<p>Planted bug: <code>{}</code>.</p>", esc(m));
        }
        h.push_str(
            "<p>Every seed runs twice (determinism compares trace hashes). Latencies are in \
             simulated milliseconds; availability is ok / (ok + fail + unknown).</p>\n",
        );
        h.push_str(
            "<table><tr><th>scenario</th><th>seeds</th><th>failures</th><th>model</th>\
             <th>linearizability</th><th>too big</th><th>determinism</th><th>coverage</th>\
             <th>availability</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\n",
        );
        let class = |v: &str| if v == "pass" { "pass" } else { "fail" };
        for s in &self.scenarios {
            let (mv, lv) = (s.model_verdict(), s.lin_verdict());
            let _ = writeln!(
                h,
                "<tr><td><a href=\"#{n}\">{n}</a></td><td class=n>{}</td><td class=n>{}</td>\
                 <td class={}>{mv}</td><td class={}>{lv}</td><td class=n>{}</td><td>{}</td>\
                 <td>{}</td><td class=n>{:.2}%</td><td class=n>{}</td><td class=n>{}</td>\
                 <td class=n>{}</td><td class=n>{}</td></tr>",
                s.seeds,
                s.failures.len(),
                class(&mv),
                class(&lv),
                s.lin_too_big,
                s.determinism_verdict(),
                s.coverage_verdict(),
                s.availability_pct(),
                s.percentile_ms(50),
                s.percentile_ms(90),
                s.percentile_ms(99),
                s.latencies_ms.last().copied().unwrap_or(0),
                n = esc(&s.name),
            );
        }
        h.push_str("</table>\n");
        let mut pictures = 0;
        for s in &self.scenarios {
            let _ = writeln!(
                h,
                "<section id=\"{n}\"><h2>{n}</h2><ul>\
                 <li>seeds: {} ({}), failures: {}, simulated time: {} ms</li>\
                 <li>linearizability: {} per-key histories, {} operations, {} too big to check, {} violations</li>\
                 <li>faults: {}</li>\
                 <li>operations: {} ok, {} failed, {} unknown</li>\
                 <li>latency (simulated ms): {}</li>",
                s.seeds,
                s.seed_range(),
                s.failures.len(),
                s.simulated_ms,
                s.lin_histories,
                s.lin_ops,
                s.lin_too_big,
                s.lin_violations,
                esc(&s.fault_list()),
                s.ops_ok,
                s.ops_fail,
                s.ops_unknown,
                esc(&s.latency_line()),
                n = esc(&s.name),
            );
            if s.elle_txns > 0 {
                let _ = writeln!(
                    h,
                    "<li>elle (MULTI/EXEC list-append): {} transactions, {} committed, {} failed seeds</li>",
                    s.elle_txns,
                    s.elle_committed,
                    s.failed_by.get("elle").copied().unwrap_or(0)
                );
            }
            for m in &s.not_reached {
                let _ = writeln!(h, "<li class=fail>NOT reached: {}</li>", esc(m));
            }
            h.push_str("</ul>\n");
            for f in &s.failures {
                let _ = writeln!(
                    h,
                    "<h3 class=fail>seed {:#018x} — {}</h3><p>{}</p><p>Replay: <code>{}</code></p><pre>{}</pre>",
                    f.seed,
                    f.checker.map_or("?", Checker::name),
                    esc(&f.failure),
                    esc(&f.replay),
                    esc(&f.timeline.join("\n"))
                );
                h.push_str(&f.picture.html(pictures));
                pictures += 1;
            }
            h.push_str("</section>\n");
        }
        h.push_str(&self.coverage_html());
        if pictures > 0 {
            h.push_str(crate::timeline::CHECK_SCRIPT);
        }
        h.push_str("</body></html>\n");
        h
    }
}

impl Report {
    fn coverage_html(&self) -> String {
        let coverage = self.coverage();
        let (ran, declared) = coverage.covered_counts();
        let mut h = String::from("<section id=\"coverage\"><h2>Command coverage</h2>\n");
        if let Err(why) = self.coverage_verdict() {
            let _ = writeln!(h, "<p class=fail>FAILED: {}</p>", esc(&why));
        }
        let _ = writeln!(
            h,
            "<p>{ran} of the {declared} commands the workload covers ran; {} excluded.</p>\
             <table><tr><th>command</th><th>runs</th><th>note</th></tr>",
            crate::coverage::excluded_count()
        );
        for (c, runs, note) in coverage.rows() {
            let class = if note == "NEVER RAN" {
                " class=fail"
            } else {
                ""
            };
            let _ = writeln!(
                h,
                "<tr><td>{c}</td><td class=n>{runs}</td><td{class}>{}</td></tr>",
                esc(&note)
            );
        }
        h.push_str(
            "</table>\n<table><tr><th>type:encoding</th><th>keys at the end of runs</th></tr>\n",
        );
        for (e, n) in &coverage.encodings {
            let _ = writeln!(h, "<tr><td>{}</td><td class=n>{n}</td></tr>", esc(e));
        }
        h.push_str("</table></section>\n");
        h
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the Markdown of a fixed small sweep: three seeds of every scenario.
    #[test]
    fn report_markdown_snapshot() {
        let scenarios: Vec<&str> = crate::SCENARIOS
            .iter()
            .copied()
            .filter(|n| !crate::scenario::PERSIST_SCENARIOS.contains(n))
            .collect();
        let report = build(&scenarios, 0, 3, &|_| {}, None);
        assert_eq!(report.total_failures(), 0);
        insta::assert_snapshot!("report_3_seeds", report.markdown());
        let html = report.html();
        assert!(html.starts_with("<!doctype html>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        for name in &scenarios {
            assert!(html.contains(&format!("id=\"{name}\"")));
        }
    }

    #[test]
    fn percentiles_and_truncation() {
        let r = ScenarioReport {
            latencies_ms: (1..=100).collect(),
            ops_ok: 3,
            ops_fail: 0,
            ops_unknown: 1,
            ..ScenarioReport::default()
        };
        assert_eq!(
            [50, 90, 99, 100].map(|p| r.percentile_ms(p)),
            [50, 90, 99, 100]
        );
        assert_eq!(r.availability_pct(), 75.0);
        let lines: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        let t = truncate_timeline(lines);
        assert_eq!(t.len(), TIMELINE_HEAD_LINES + TIMELINE_TAIL_LINES + 1);
        assert_eq!(t.last().map(String::as_str), Some("199"));
    }

    #[cfg(feature = "mutants")]
    #[test]
    fn failures_get_a_timeline_and_a_replay_line() {
        use keel_core::mutants::Mutant;
        let plant = |n: &mut Node| n.set_mutant(Some(Mutant::SetAckedNotApplied));
        let report = build(&["plain-load"], 0, 2, &plant, Some("set-acked-not-applied"));
        let f = report.scenarios[0]
            .failures
            .first()
            .expect("the mutant fails");
        assert!(f.replay.contains("--mutant set-acked-not-applied"));
        assert!(f.timeline.iter().any(|l| l.contains("FAILURE")));
        assert!(report.markdown().contains(&f.replay));
    }
}
