//! Live progress of a run: what the engine is waiting for while a scenario runs, and each
//! scenario's verdict the moment it ends.
//!
//! Owns: the [`Progress`] observer the engine calls (it says *what* is pending, never how to
//! show it) and the terminal's [`Live`] display: an indicatif status line on stdout per
//! running scenario (one with `--jobs 1`; with several jobs, one line each, in the order
//! they started), hidden when stdout is not a terminal, plain (no colour) when `NO_COLOR` is
//! set; with `--format json`, one JSON object per scenario on stdout instead.
//!
//! Never: judges (the engine hands over the judge's unsettled results), writes files, or
//! prints anything but to stdout (the run's output) — tracing and warnings go to stderr.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::judge::CheckResult;
use crate::report::{RunReport, ScenarioReport};

/// A snapshot of a running scenario, as the engine sees it while it waits.
#[derive(Debug, Clone, Copy)]
pub struct Waiting<'a> {
    /// Scenario id.
    pub scenario: &'a str,
    /// Lab seconds since the scenario's servers started.
    pub elapsed_s: f64,
    /// Lab seconds after which the scenario ends whatever happens.
    pub timeout_s: f64,
    /// Events in the timeline so far.
    pub events: usize,
    /// The checks whose verdict can still change, in file order.
    pub pending: &'a [&'a CheckResult],
}

impl Waiting<'_> {
    /// `waiting for OPT242-003-02 (REGISTER to the second controller) and 2 more · 14 events
    /// · 3.2 s of 60 s` — what a person watching the run wants to know.
    pub fn describe(&self) -> String {
        let what = match self.pending {
            [] => "ending the scenario".to_string(),
            [one] => format!("waiting for {} ({})", one.id, one.title),
            [first, rest @ ..] => format!(
                "waiting for {} ({}) and {} more",
                first.id,
                first.title,
                rest.len()
            ),
        };
        format!(
            "{}: {what} · {} event(s) · {:.1} s of {:.0} s",
            self.scenario, self.events, self.elapsed_s, self.timeout_s
        )
    }
}

/// Told by the engine what it waits for (many times a second: implementations must be
/// cheap and must not block).
pub trait Progress: Send + Sync + std::fmt::Debug {
    /// The scenario is still running; `w` says what could still change its verdicts.
    fn waiting(&self, w: &Waiting<'_>);
}

/// Shows nothing: for library users and tests that do not watch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn waiting(&self, _: &Waiting<'_>) {}
}

/// How the run reports itself on stdout (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Lines for people: each verdict as it comes, a status line while waiting, a summary.
    #[default]
    Text,
    /// One JSON object per line: `{"event":"scenario",…}` as each scenario ends, then
    /// `{"event":"summary",…}`.
    Json,
}

/// Whether colour is allowed: `NO_COLOR` set to anything non-empty turns it off
/// (no-color.org).
pub fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The terminal display of a run.
#[derive(Debug)]
pub struct Live {
    format: Format,
    /// The status lines; hidden (draws nothing) when stdout is not a terminal or in JSON
    /// mode.
    lines: MultiProgress,
    /// The status line of each running scenario, by scenario id.
    running: Mutex<Vec<(String, ProgressBar)>>,
    /// The status lines' indicatif template.
    template: &'static str,
    /// Serialises whole lines on stdout (verdicts printed as scenarios end, the status lines
    /// redrawn from the engines' polls).
    out: Mutex<()>,
}

impl Live {
    /// A display for `format`. Status lines draw on stdout only when stdout is a terminal
    /// (indicatif's terminal target hides itself otherwise) and the format is text.
    pub fn new(format: Format) -> Live {
        let target = match format {
            Format::Text => ProgressDrawTarget::stdout(),
            Format::Json => ProgressDrawTarget::hidden(),
        };
        // The template is the only place colour comes from, so NO_COLOR means a plain one.
        let template = if colour_allowed() {
            "{spinner:.cyan} {wide_msg}"
        } else {
            "{spinner} {wide_msg}"
        };
        Live {
            format,
            lines: MultiProgress::with_draw_target(target),
            running: Mutex::new(Vec::new()),
            template,
            out: Mutex::new(()),
        }
    }

    /// Whether status lines are drawn at all (stdout is a terminal and the format text).
    pub fn is_drawn(&self) -> bool {
        !self.lines.is_hidden()
    }

    /// A scenario starts: it gets its status line.
    pub fn starting(&self, id: &str, title: &str) {
        if !self.is_drawn() {
            return;
        }
        let bar = self.lines.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template(self.template) {
            bar.set_style(style);
        }
        bar.set_message(format!("{id}: starting — {title}"));
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut running) = self.running.lock() {
            running.push((id.to_string(), bar));
        }
    }

    /// The status line of scenario `id`, while it runs.
    fn line_of(&self, id: &str) -> Option<ProgressBar> {
        let running = self.running.lock().ok()?;
        running
            .iter()
            .find(|(running_id, _)| running_id == id)
            .map(|(_, bar)| bar.clone())
    }

    /// A scenario ended: its verdict block (text) or its JSON object, at once.
    pub fn ended(&self, run_id: &str, s: &ScenarioReport) {
        let _guard = self.out.lock();
        let line = self.running.lock().ok().and_then(|mut running| {
            let at = running.iter().position(|(id, _)| *id == s.id)?;
            Some(running.remove(at).1)
        });
        if let Some(bar) = line {
            bar.finish_and_clear();
            self.lines.remove(&bar);
        }
        match self.format {
            Format::Text => {
                let block = crate::report::scenario_block(s);
                // Printed above the status lines of the scenarios still running, which are
                // redrawn under it.
                self.lines
                    .suspend(|| print_flushed(block.trim_end_matches('\n')));
            }
            Format::Json => {
                let line = serde_json::json!({
                    "event": "scenario",
                    "run_id": run_id,
                    "scenario": s,
                });
                print_flushed(&line.to_string());
            }
        }
    }

    /// The run ended: the status line goes, and the totals are printed.
    pub fn finished(&self, report: &RunReport, report_dir: &std::path::Path) {
        if let Ok(mut running) = self.running.lock() {
            for (_, bar) in running.drain(..) {
                bar.finish_and_clear();
                self.lines.remove(&bar);
            }
        }
        let _ = self.lines.clear();
        let _guard = self.out.lock();
        match self.format {
            Format::Text => {
                print!("{}", crate::report::totals(report, report_dir));
                let _ = std::io::stdout().flush();
            }
            Format::Json => {
                let line = serde_json::json!({
                    "event": "summary",
                    "run_id": report.run_id,
                    "summary": report.summary,
                    "interrupted": report.interrupted,
                    "not_run": report.not_run,
                    "duration_s": report.duration_s,
                    "dut": report.dut.describe(),
                    "reports": report_dir.display().to_string(),
                });
                print_flushed(&line.to_string());
            }
        }
    }
}

impl Progress for Live {
    fn waiting(&self, w: &Waiting<'_>) {
        if let Some(bar) = self.line_of(w.scenario) {
            bar.set_message(w.describe());
        }
    }
}

/// One line on stdout, flushed at once (a pipe would otherwise hold it until the run ends).
/// A closed pipe (`| head`) is not worth a panic.
fn print_flushed(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::Verdict;
    use crate::scenario::Level;

    fn pending(id: &str, title: &str) -> CheckResult {
        CheckResult {
            id: id.into(),
            location: String::new(),
            title: title.into(),
            requirement: "r".into(),
            level: Level::Must,
            verdict: Verdict::Fail,
            expected: String::new(),
            observed: String::new(),
            violation: None,
            events: vec![],
            frames: vec![],
            at_s: None,
            time_base: None,
            settled: false,
        }
    }

    #[test]
    fn the_status_line_names_what_is_pending() {
        let a = pending("REG-001-02", "REGISTER retransmitted");
        let b = pending("REG-001-03", "failover");
        let list = [&a, &b];
        let w = Waiting {
            scenario: "REG-001",
            elapsed_s: 3.21,
            timeout_s: 60.0,
            events: 14,
            pending: &list,
        };
        assert_eq!(
            w.describe(),
            "REG-001: waiting for REG-001-02 (REGISTER retransmitted) and 1 more · 14 event(s) · 3.2 s of 60 s"
        );
        let one = [&a];
        let w = Waiting { pending: &one, ..w };
        assert!(
            w.describe()
                .contains("waiting for REG-001-02 (REGISTER retransmitted) ·")
        );
        let w = Waiting { pending: &[], ..w };
        assert!(w.describe().contains("ending the scenario"));
    }

    #[test]
    fn json_mode_draws_no_status_line() {
        // In JSON mode stdout belongs to the machine-readable stream alone.
        assert!(!Live::new(Format::Json).is_drawn());
    }
}
