//! Shrinking a failing plan: delta debugging (Zeller's ddmin) over the fault plan and
//! the workload, keeping a candidate only while it still fails with the same signature
//! (checker, kind of violation, command). The result is a plan, not a seed: it replays
//! with `keel-sim replay --plan FILE`. Where the bug is known (a planted mutant), the
//! final plan is re-run without it and must pass, or it reproduces nothing.
//!
//! Runs are deterministic, so "still fails" is a plain function of the candidate plan;
//! the number of runs is bounded so a shrink always ends.

use crate::{run_plan, Checker, Plan, RunOptions, Signature};

/// What a shrink did.
#[derive(Debug, Clone)]
pub struct Shrunk {
    pub plan: Plan,
    pub checker: Checker,
    /// The failure kept through the shrink.
    pub signature: Signature,
    /// The final plan run without the bug (when a bug-free build was given): Some(None)
    /// when it passes there, Some(Some(failure)) when it fails without the bug too.
    pub without_bug: Option<Option<String>>,
    /// Sizes (faults + operations) before and after.
    pub size_before: usize,
    pub size_after: usize,
    pub runs: usize,
    /// The failure the smallest plan still shows.
    pub failure: String,
}

/// Reduces `items` to a smaller list for which `fails` still holds (1-minimal when the
/// run budget allows): try each chunk alone, then each complement, doubling the
/// granularity when neither fails. `fails(items)` must hold on entry.
pub fn ddmin<T: Clone>(
    items: Vec<T>,
    budget_runs: &mut usize,
    mut fails: impl FnMut(&[T]) -> bool,
) -> Vec<T> {
    let mut current = items;
    let mut n = 2usize;
    while current.len() >= 2 && *budget_runs > 0 {
        let chunk = current.len().div_ceil(n);
        let chunks: Vec<(usize, usize)> = (0..current.len())
            .step_by(chunk)
            .map(|start| (start, (start + chunk).min(current.len())))
            .collect();
        let mut reduced = false;
        for &(a, b) in &chunks {
            if *budget_runs == 0 {
                break;
            }
            *budget_runs -= 1;
            let subset = current[a..b].to_vec();
            if fails(&subset) {
                current = subset;
                n = 2;
                reduced = true;
                break;
            }
        }
        if !reduced && chunks.len() > 2 {
            for &(a, b) in &chunks {
                if *budget_runs == 0 {
                    break;
                }
                *budget_runs -= 1;
                let mut complement = current[..a].to_vec();
                complement.extend_from_slice(&current[b..]);
                if fails(&complement) {
                    current = complement;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if n >= current.len() {
                break;
            }
            n = (n * 2).min(current.len());
        }
    }
    // A single item may still be unnecessary.
    if current.len() == 1 && *budget_runs > 0 {
        *budget_runs -= 1;
        if fails(&[]) {
            current.clear();
        }
    }
    current
}

/// Shrinks a plan that fails under `options`; None when it does not fail at all.
/// `without_bug`, when given, runs the same world without the bug (a mutant left
/// unplanted): the final plan must pass there.
pub fn shrink(
    plan: &Plan,
    options: RunOptions<'_>,
    without_bug: Option<RunOptions<'_>>,
    max_runs: usize,
) -> Option<Shrunk> {
    let first = run_plan(plan, options);
    let signature = first.signature?;
    let checker = signature.checker;
    let still_fails = |p: &Plan| run_plan(p, options).signatures.contains(&signature);
    let mut budget = max_runs;
    let mut best = plan.clone();
    // Alternate until neither list gets smaller: dropping operations can make faults
    // unnecessary and the other way round.
    loop {
        let size = best.size();
        let faults = ddmin(best.scenario.faults.clone(), &mut budget, |faults| {
            let mut p = best.clone();
            p.scenario.faults = faults.to_vec();
            still_fails(&p)
        });
        best.scenario.faults = faults;
        let ops = ddmin(best.ops.clone(), &mut budget, |ops| {
            let mut p = best.clone();
            p.ops = ops.to_vec();
            still_fails(&p)
        });
        best.ops = ops;
        if best.size() >= size || budget == 0 {
            break;
        }
    }
    // Fewer clients: renumber the ones that still send anything.
    if budget > 0 {
        let mut used: Vec<usize> = best.ops.iter().map(|o| o.client).collect();
        used.sort_unstable();
        used.dedup();
        if !used.is_empty() && used.len() < best.scenario.clients {
            let mut p = best.clone();
            p.scenario.clients = used.len();
            for o in &mut p.ops {
                o.client = used.binary_search(&o.client).unwrap_or(0);
            }
            p.scenario.faults.retain(|f| match f.fault {
                crate::Fault::ResetConn { client } => used.contains(&client),
                _ => true,
            });
            for f in &mut p.scenario.faults {
                if let crate::Fault::ResetConn { client } = &mut f.fault {
                    *client = used.binary_search(client).unwrap_or(0);
                }
            }
            budget -= 1;
            if still_fails(&p) {
                best = p;
            }
        }
    }
    let last = run_plan(&best, options);
    let without_bug = without_bug.map(|o| run_plan(&best, o).failure);
    Some(Shrunk {
        signature,
        without_bug,
        size_before: plan.size(),
        size_after: best.size(),
        runs: max_runs - budget + 2,
        failure: last.failure.unwrap_or_default(),
        plan: best,
        checker,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddmin_finds_the_culprits() {
        // Fails when both 3 and 7 are present.
        let items: Vec<u32> = (0..20).collect();
        let mut budget = 1_000;
        let min = ddmin(items, &mut budget, |xs| xs.contains(&3) && xs.contains(&7));
        assert_eq!(min, vec![3, 7]);
        // Fails always: nothing is needed.
        let mut budget = 1_000;
        assert!(ddmin(vec![1, 2, 3], &mut budget, |_| true).is_empty());
        // The budget bounds the work.
        let mut budget = 3;
        let left = ddmin((0..100).collect::<Vec<u32>>(), &mut budget, |xs| {
            xs.contains(&42)
        });
        assert_eq!(budget, 0);
        assert!(left.contains(&42));
    }

    /// A failing seed with a planted bug shrinks to a strictly smaller plan that still
    /// fails the same way, and the plan survives a JSON round trip.
    #[cfg(feature = "mutants")]
    #[test]
    fn mutant_failure_shrinks() {
        use crate::{Checks, Plan};
        use keel_core::mutants::Mutant;
        let plant = |n: &mut keel_core::Node| n.set_mutant(Some(Mutant::SetAckedNotApplied));
        let options = RunOptions {
            trace: false,
            checks: Checks::default(),
            setup: &plant,
        };
        let plan = Plan::generate("slow-link-timeouts", 0);
        let without = RunOptions {
            setup: &|_| {},
            ..options
        };
        let shrunk =
            shrink(&plan, options, Some(without), 400).expect("the mutant makes seed 0 fail");
        assert_eq!(shrunk.without_bug, Some(None), "{shrunk:?}");
        assert!(shrunk.size_after < shrunk.size_before, "{shrunk:?}");
        assert!(shrunk.plan.scenario.clients <= plan.scenario.clients);
        assert!(shrunk
            .plan
            .ops
            .iter()
            .all(|o| o.client < shrunk.plan.scenario.clients));
        let again = Plan::from_json(&shrunk.plan.to_json()).expect("round trip");
        assert_eq!(again, shrunk.plan);
        let out = run_plan(&again, options);
        assert!(
            out.signatures.contains(&shrunk.signature),
            "{:?}",
            out.signatures
        );
        eprintln!(
            "shrunk {} -> {} in {} runs: {}",
            shrunk.size_before, shrunk.size_after, shrunk.runs, shrunk.failure
        );
    }
}
