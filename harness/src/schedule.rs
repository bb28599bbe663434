//! Runs the scenarios of a run: at most `jobs` at a time, each in its own lab, and hands
//! their reports back in the run's order (the order they were selected in), whatever order
//! they ended in.
//!
//! Owns: how many scenarios run at once and which starts next (the run's order); each
//! running scenario's thread and async runtime, so the blocking parts of one (setting up and
//! removing its namespaces, closing and annotating its capture, judging) never hold up the
//! servers of another; what a scenario that never started becomes once the run is
//! interrupted or stopped (`skip`, `not run: …`); telling the live display as each scenario
//! starts and ends.
//!
//! Never: sets up a lab, judges or saves evidence (the engine does, per scenario), writes
//! the run's reports. Labs of scenarios running at the same time share nothing: each netns
//! scenario has its own namespace pair (named by pid and a counter), each loopback scenario
//! its own 127.77.N.0/24 ([`crate::lab::LoopbackSlot`]), each its own capture, timeline and
//! device folders, named by its id (ids are unique in a run).

use std::num::NonZeroUsize;
use std::sync::mpsc;

use crate::engine::{self, EngineError, RunContext};
use crate::progress::Live;
use crate::report::ScenarioReport;
use crate::scenario::Scenario;

/// Worker threads of each scenario's runtime: the engine's watch loop on one, the servers
/// on the other, as when a run had one runtime for its one scenario at a time.
const THREADS_PER_SCENARIO: usize = 2;

/// How the scenarios of a run ended.
#[derive(Debug)]
pub struct Outcome {
    /// One report per scenario, in the run's order.
    pub reports: Vec<ScenarioReport>,
    /// Ctrl-C or SIGTERM stopped the run.
    pub interrupted: bool,
    /// What stopped the run on the harness's side (a lab that could not be set up).
    pub stopped: Option<String>,
    /// The scenarios that did not run to their end, in the run's order.
    pub not_run: Vec<String>,
}

/// The number of scenarios run at once when `--jobs` is not given: one per core.
pub fn default_jobs() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// How one scenario's thread ended.
enum Ended {
    Ran(Box<Result<ScenarioReport, EngineError>>),
    /// Its runtime could not be built, or the engine panicked: the harness is broken.
    Broke(String),
}

/// Runs `scenarios` with at most `jobs` at a time and returns their reports in order.
/// Blocks until the last running scenario has ended.
pub fn run_all(
    scenarios: &[Scenario],
    ctx: &RunContext,
    jobs: NonZeroUsize,
    live: &Live,
) -> Outcome {
    let mut ended: Vec<Option<(ScenarioReport, bool)>> = scenarios.iter().map(|_| None).collect();
    let mut interrupted = false;
    let mut stopped: Option<String> = None;
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<(usize, Ended)>();
        let mut next = 0;
        let mut running = 0;
        loop {
            while running < jobs.get()
                && next < scenarios.len()
                && !interrupted
                && stopped.is_none()
            {
                if *ctx.cancel.borrow() {
                    interrupted = true;
                    break;
                }
                let (i, sc) = (next, &scenarios[next]);
                next += 1;
                if !live.is_drawn() {
                    // No status line to say it (a pipe, a CI log): one line on stderr.
                    eprintln!("running {} — {}", sc.spec.id, sc.spec.title);
                }
                live.starting(&sc.spec.id, &sc.spec.title);
                let tx = done_tx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("scenario {}", sc.spec.id))
                    .spawn_scoped(scope, move || {
                        let _ = tx.send((i, run_one(sc, ctx)));
                    });
                match spawned {
                    Ok(_) => running += 1,
                    Err(e) => {
                        let why = format!("cannot start a thread for {}: {e}", sc.spec.id);
                        eprintln!("error: {why}");
                        ended[i] = Some((not_run(sc, format!("not run: {why}")), true));
                        stopped = Some(why);
                    }
                }
            }
            if running == 0 {
                break;
            }
            let Ok((i, result)) = done_rx.recv() else {
                break;
            };
            running -= 1;
            let sc = &scenarios[i];
            let (report, cut_short) = match result {
                Ended::Ran(ran) => match *ran {
                    Ok(r) => (r, false),
                    Err(EngineError::Interrupted(partial)) => {
                        interrupted = true;
                        (*partial, true)
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        stopped.get_or_insert_with(|| e.to_string());
                        (not_run(sc, format!("not run: {e}")), true)
                    }
                },
                Ended::Broke(why) => {
                    eprintln!("error: {why}");
                    stopped.get_or_insert_with(|| why.clone());
                    (not_run(sc, format!("not run: {why}")), true)
                }
            };
            live.ended(&ctx.run_id, &report);
            ended[i] = Some((report, cut_short));
        }
    });
    let mut reports = Vec::with_capacity(scenarios.len());
    let mut not_run_ids = Vec::new();
    for (sc, slot) in scenarios.iter().zip(ended) {
        let (report, cut_short) = slot.unwrap_or_else(|| {
            let why = match &stopped {
                Some(e) => format!("not run: the run stopped: {e}"),
                None => "not run: the run was interrupted".to_string(),
            };
            let skipped = not_run(sc, why);
            live.ended(&ctx.run_id, &skipped);
            (skipped, true)
        });
        if cut_short {
            not_run_ids.push(sc.spec.id.clone());
        }
        reports.push(report);
    }
    Outcome {
        reports,
        interrupted,
        stopped,
        not_run: not_run_ids,
    }
}

/// One scenario on the current thread, in an async runtime of its own that ends with it
/// (so does anything the scenario left running in it).
fn run_one(sc: &Scenario, ctx: &RunContext) -> Ended {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS_PER_SCENARIO)
        .thread_name(format!("{} worker", sc.spec.id))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Ended::Broke(format!("cannot start the async runtime: {e}")),
    };
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(engine::run_scenario(sc, ctx))
    }));
    match ran {
        Ok(result) => Ended::Ran(Box::new(result)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Ended::Broke(format!(
                "the harness failed while running {}: {what}",
                sc.spec.id
            ))
        }
    }
}

/// The report of a scenario that did not run, saying why.
fn not_run(sc: &Scenario, why: String) -> ScenarioReport {
    ScenarioReport::not_run(
        &sc.spec.id,
        &sc.spec.title,
        &format!("{:?}", sc.spec.family).to_lowercase(),
        &sc.file.display().to_string(),
        why,
    )
}
