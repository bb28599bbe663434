//! The storm's report: what a storm measured, as JSON (schema `phonecert.storm/1`) and as
//! text for the terminal.
//!
//! Owns: the report's shape, the boot-time distribution (min, median, p99, max, nearest-rank
//! percentiles), the failure list by phone and step, and the text rendering.
//! Never: measures anything (the run does) or decides where a phone stopped (the tally does).

use serde::Serialize;

use crate::tally::{Progress, Step};

/// The report schema's name.
pub const SCHEMA: &str = "phonecert.storm/1";

/// Boot times in seconds (power-on to the first 2xx to REGISTER), over registered phones.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Distribution {
    pub min_s: f64,
    pub median_s: f64,
    pub p99_s: f64,
    pub max_s: f64,
}

impl Distribution {
    /// Nearest-rank percentiles of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Distribution> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            // Nearest rank: the smallest value with at least p of the values at or below it.
            let n = v.len() as f64;
            let k = (p * n).ceil().max(1.0) as usize;
            v[k.min(v.len()) - 1]
        };
        Some(Distribution {
            min_s: v[0],
            median_s: rank(0.5),
            p99_s: rank(0.99),
            max_s: v[v.len() - 1],
        })
    }
}

/// One phone that did not register.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// 1-based phone number.
    pub phone: usize,
    pub mac: String,
    /// The step it did not get past.
    pub step: Step,
    pub why: String,
}

/// What the capture recorded and what it missed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaptureSummary {
    /// The pcapng, relative to the output root.
    pub file: String,
    /// `kernel` (AF_PACKET on the lab link) or `synthesised` (from the servers' socket I/O).
    pub how: String,
    pub frames: u64,
    /// Frames lost: the kernel's PACKET_STATISTICS count for a kernel capture; 0 for a
    /// synthesised one, which writes every frame from the servers' own I/O and has no buffer
    /// to overflow.
    pub drops: u64,
    /// Where `drops` was read.
    pub drops_from: String,
}

/// The harness's memory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Memory {
    /// Peak resident set of the whole process (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Resident set before the phones were started (VmRSS), KiB.
    pub before_phones_kib: u64,
    /// `peak_rss_kib` divided by the number of phones.
    pub per_phone_kib: f64,
    /// What the phones added: (`peak_rss_kib` − `before_phones_kib`) / phones.
    pub added_per_phone_kib: f64,
}

/// One phone's row in the JSON report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhoneRow {
    pub phone: usize,
    pub mac: String,
    #[serde(flatten)]
    pub progress: Progress,
}

/// A storm's whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StormReport {
    pub schema: &'static str,
    pub run_id: String,
    pub lab: String,
    /// The scenario whose servers and phone setup the storm used.
    pub scenario: String,
    pub phones: usize,
    pub pool_size: u32,
    /// Phone seconds per lab second (the scenario's). Every time in this report (`*_s`) is
    /// in lab seconds, the wall clock's: a phone's own timers ran `time_scale` times faster.
    pub time_scale: f64,
    pub registered: usize,
    /// Power-on to the last phone's registration; `None` unless every phone registered.
    pub time_to_all_registered_s: Option<f64>,
    /// Power-on until the storm ended (all settled, or the timeout).
    pub elapsed_s: f64,
    /// The storm ended on `--timeout` with phones still unsettled.
    pub timed_out: bool,
    /// The storm was stopped by Ctrl-C.
    pub interrupted: bool,
    pub boot_time: Option<Distribution>,
    pub failures: Vec<Failure>,
    /// Failures counted by step.
    pub failures_by_step: Vec<(Step, usize)>,
    pub capture: CaptureSummary,
    /// This report, relative to the output root (`reports/<run-id>/storm.json`; `storm.txt`
    /// beside it).
    pub report_file: String,
    /// Frames lost on the phones' shared link (netns): dropped by the kernel because its
    /// socket's buffer was full, or not handed to a phone whose inbox was full.
    pub link_drops: u64,
    pub memory: Memory,
    pub per_phone: Vec<PhoneRow>,
}

impl StormReport {
    /// The failures and their count per step, from each phone's progress.
    pub fn failures_of(macs: &[String], phones: &[Progress]) -> (Vec<Failure>, Vec<(Step, usize)>) {
        let failures: Vec<Failure> = phones
            .iter()
            .zip(macs)
            .enumerate()
            .filter_map(|(i, (p, mac))| {
                p.failure().map(|(step, why)| Failure {
                    phone: i + 1,
                    mac: mac.clone(),
                    step,
                    why,
                })
            })
            .collect();
        let by_step = [Step::Dhcp, Step::Http, Step::Register]
            .into_iter()
            .map(|s| (s, failures.iter().filter(|f| f.step == s).count()))
            .filter(|(_, n)| *n > 0)
            .collect();
        (failures, by_step)
    }

    /// Every phone registered and the capture missed nothing.
    pub fn clean(&self) -> bool {
        self.registered == self.phones && self.capture.drops == 0 && self.link_drops == 0
    }

    /// Which clock the report's times are on: a storm measures the infrastructure, so lab
    /// seconds; a reader comparing them with a phone's timers needs the factor.
    fn time_base(&self) -> String {
        if self.time_scale == 1.0 {
            "times: lab seconds (the wall clock; the phones' timers run at the same rate)\n".into()
        } else {
            format!(
                "times: lab seconds (the wall clock); the phones' timers ran {} times faster: phone seconds = lab seconds × {}\n",
                self.time_scale, self.time_scale
            )
        }
    }

    /// The report for a terminal.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let secs = |s: Option<f64>| s.map_or("-".to_string(), |s| format!("{s:.2} s"));
        out.push_str(&format!(
            "storm {}: {} phones, lab {}, scenario {}, pool {} addresses, time scale {}\n",
            self.run_id, self.phones, self.lab, self.scenario, self.pool_size, self.time_scale
        ));
        out.push_str(&self.time_base());
        out.push_str(&format!(
            "registered: {} of {}{}\n",
            self.registered,
            self.phones,
            if self.interrupted {
                format!(" (interrupted after {:.1} s)", self.elapsed_s)
            } else if self.timed_out {
                format!(" (stopped by the timeout after {:.1} s)", self.elapsed_s)
            } else {
                String::new()
            }
        ));
        out.push_str(&format!(
            "time to all registered: {}\n",
            secs(self.time_to_all_registered_s)
        ));
        match &self.boot_time {
            Some(d) => out.push_str(&format!(
                "boot time (power-on to REGISTER accepted): min {:.2} s, median {:.2} s, p99 {:.2} s, max {:.2} s\n",
                d.min_s, d.median_s, d.p99_s, d.max_s
            )),
            None => out.push_str("boot time: no phone registered\n"),
        }
        out.push_str(&format!(
            "capture: {} ({}), {} frames, {} dropped ({})\n",
            self.capture.file,
            self.capture.how,
            self.capture.frames,
            self.capture.drops,
            self.capture.drops_from
        ));
        if self.link_drops > 0 {
            out.push_str(&format!(
                "shared link: {} frames lost on the way to the phones\n",
                self.link_drops
            ));
        }
        out.push_str(&format!(
            "harness memory: peak RSS {} KiB, {:.1} KiB per phone ({:.1} KiB per phone above the {} KiB before the phones started)\n",
            self.memory.peak_rss_kib,
            self.memory.per_phone_kib,
            self.memory.added_per_phone_kib,
            self.memory.before_phones_kib
        ));
        if self.failures.is_empty() {
            out.push_str("failures: none\n");
        } else {
            let steps: Vec<String> = self
                .failures_by_step
                .iter()
                .map(|(s, n)| format!("{n} at {}", s.name()))
                .collect();
            out.push_str(&format!(
                "failures: {} ({})\n",
                self.failures.len(),
                steps.join(", ")
            ));
            for f in &self.failures {
                out.push_str(&format!(
                    "  phone {} {}: {}: {}\n",
                    f.phone,
                    f.mac,
                    f.step.name(),
                    f.why
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let d = Distribution::of(&v).expect("values");
        assert_eq!(
            (d.min_s, d.median_s, d.p99_s, d.max_s),
            (1.0, 50.0, 99.0, 100.0)
        );
        let d = Distribution::of(&[3.0, 1.0, 2.0]).expect("values");
        assert_eq!(
            (d.min_s, d.median_s, d.p99_s, d.max_s),
            (1.0, 2.0, 3.0, 3.0)
        );
        assert_eq!(Distribution::of(&[]), None);
    }

    fn report(time_scale: f64) -> StormReport {
        StormReport {
            schema: SCHEMA,
            run_id: "R".into(),
            lab: "loopback".into(),
            scenario: "s.toml".into(),
            phones: 1,
            pool_size: 1,
            time_scale,
            registered: 1,
            time_to_all_registered_s: Some(0.5),
            elapsed_s: 0.5,
            timed_out: false,
            interrupted: false,
            boot_time: Distribution::of(&[0.5]),
            failures: Vec::new(),
            failures_by_step: Vec::new(),
            capture: CaptureSummary {
                file: "captures/R/storm.pcapng".into(),
                how: "synthesised".into(),
                frames: 0,
                drops: 0,
                drops_from: "none".into(),
            },
            report_file: "reports/R/storm.json".into(),
            link_drops: 0,
            memory: Memory {
                peak_rss_kib: 1,
                before_phones_kib: 1,
                per_phone_kib: 1.0,
                added_per_phone_kib: 0.0,
            },
            per_phone: Vec::new(),
        }
    }

    #[test]
    fn the_text_says_its_times_are_lab_seconds_and_how_phone_time_relates() {
        let second_line = |r: &StormReport| r.text().lines().nth(1).unwrap_or("").to_string();
        assert_eq!(
            second_line(&report(1.0)),
            "times: lab seconds (the wall clock; the phones' timers run at the same rate)"
        );
        assert_eq!(
            second_line(&report(2.5)),
            "times: lab seconds (the wall clock); the phones' timers ran 2.5 times faster: phone seconds = lab seconds × 2.5"
        );
    }

    #[test]
    fn failures_name_the_phone_and_are_counted_by_step() {
        let macs = vec![
            "00:1b:4f:e0:00:01".to_string(),
            "00:1b:4f:e0:00:02".to_string(),
        ];
        let registered = Progress {
            registered_s: Some(1.0),
            ..Progress::default()
        };
        let refused = Progress {
            not_answered: Some("address pool exhausted: no offer".into()),
            ..Progress::default()
        };
        let (failures, by_step) = StormReport::failures_of(&macs, &[registered, refused]);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].phone, 2);
        assert_eq!(failures[0].mac, macs[1]);
        assert_eq!(failures[0].step, Step::Dhcp);
        assert_eq!(by_step, vec![(Step::Dhcp, 1)]);
    }
}
