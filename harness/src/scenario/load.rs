//! Loading a scenario file: TOML → [`ScenarioSpec`] → validated [`Scenario`].
//!
//! Every error names `file:line:col` and shows the line with a caret, the way compilers do,
//! so an admin editing a scenario sees exactly what to fix.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::vars;
use super::{CheckKind, CheckSpec, FileContent, MatchRule, Matcher, Scenario, ScenarioSpec};

/// A place in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// Why a scenario file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// Where (the file at least).
    pub location: Location,
    /// What is wrong, lowercase.
    pub message: String,
    /// The offending line and a caret under the column, when known.
    pub snippet: Option<String>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scenario error at {}: {}", self.location, self.message)?;
        if let Some(s) = &self.snippet {
            write!(f, "\n{s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// Source text with line lookup.
struct Source<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn at_offset(&self, offset: usize, message: impl Into<String>) -> ScenarioError {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        self.at(line, col, message)
    }

    fn at(&self, line: usize, col: usize, message: impl Into<String>) -> ScenarioError {
        let snippet = self.text.lines().nth(line.saturating_sub(1)).map(|l| {
            let width = line.to_string().len();
            format!(
                "{:w$} |\n{line} | {l}\n{:w$} | {}^",
                "",
                "",
                " ".repeat(col.saturating_sub(1)),
                w = width
            )
        });
        ScenarioError {
            location: Location {
                file: self.file.to_path_buf(),
                line,
                col,
            },
            message: message.into(),
            snippet,
        }
    }

    fn whole_file(&self, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            location: Location {
                file: self.file.to_path_buf(),
                line: 1,
                col: 1,
            },
            message: message.into(),
            snippet: None,
        }
    }

    /// Line numbers (1-based) of the `[[check]]` headers, in order.
    fn check_headers(&self) -> Vec<usize> {
        self.text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with("[[check]]"))
            .map(|(i, _)| i + 1)
            .collect()
    }

    /// Finds `key =` (or `key.` / quoted key) in the block starting at `from_line` (a header
    /// line) up to the next header; returns line and column of the key.
    fn key_in_block(&self, from_line: usize, key: &str) -> Option<(usize, usize)> {
        for (i, l) in self.text.lines().enumerate().skip(from_line) {
            let t = l.trim_start();
            if t.starts_with('[') {
                break;
            }
            let indent = l.len() - t.len();
            for candidate in [key.to_string(), format!("\"{key}\"")] {
                if let Some(rest) = t.strip_prefix(&candidate) {
                    let rest = rest.trim_start();
                    if rest.starts_with('=') || rest.starts_with('.') {
                        return Some((i + 1, indent + 1));
                    }
                }
            }
            // inline tables: `match = { key = ... }`
            if let Some(pos) = l
                .find(&format!("{key} ="))
                .or_else(|| l.find(&format!("\"{key}\" =")))
                && pos > indent
            {
                return Some((i + 1, pos + 1));
            }
        }
        None
    }

    fn header_line(&self, header: &str) -> usize {
        self.text
            .lines()
            .position(|l| l.trim() == header)
            .map_or(1, |i| i + 1)
    }

    fn in_check(&self, index: usize, key: &str, message: impl Into<String>) -> ScenarioError {
        let headers = self.check_headers();
        let start = headers.get(index).copied().unwrap_or(1);
        match self.key_in_block(start, key) {
            Some((line, col)) => self.at(line, col, message),
            None => self.at(start, 1, message),
        }
    }

    fn in_table(&self, header: &str, key: &str, message: impl Into<String>) -> ScenarioError {
        let start = self.header_line(header);
        match self.key_in_block(start, key) {
            Some((line, col)) => self.at(line, col, message),
            None => self.at(start, 1, message),
        }
    }
}

/// Loads and validates one scenario file. Fixture files are read relative to it.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        location: Location {
            file: path.to_path_buf(),
            line: 1,
            col: 1,
        },
        message: format!("cannot read scenario file: {e}"),
        snippet: None,
    })?;
    load_str(path, &text)
}

/// Loads and validates scenario text as if it came from `path`.
pub fn load_str(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let src = Source { file: path, text };
    let spec: ScenarioSpec = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().to_string();
        match e.span() {
            Some(span) => src.at_offset(span.start, message),
            None => src.whole_file(message),
        }
    })?;
    validate(&src, spec)
}

fn validate(src: &Source<'_>, spec: ScenarioSpec) -> Result<Scenario, ScenarioError> {
    if spec.id.trim().is_empty() {
        return Err(src.in_table("", "id", "scenario id is empty"));
    }
    if spec.checks.is_empty() {
        return Err(src.whole_file("a scenario needs at least one [[check]]"));
    }
    if !spec.run.timeout.is_finite() || spec.run.timeout <= 0.0 {
        return Err(src.in_table(
            "[run]",
            "timeout",
            "run.timeout must be more than 0 seconds",
        ));
    }
    if spec.run.settle < 0.0 {
        return Err(src.in_table("[run]", "settle", "run.settle must not be negative"));
    }
    parse_mac(&spec.phone.mac).ok_or_else(|| {
        src.in_table(
            "[phone]",
            "mac",
            format!(
                "`{}` is not a MAC address like 00:1b:4f:27:31:2a",
                spec.phone.mac
            ),
        )
    })?;

    // checks: unique ids, references, matchers
    let mut ids = BTreeMap::new();
    let mut locations = BTreeMap::new();
    for (i, c) in spec.checks.iter().enumerate() {
        if ids.insert(c.id.clone(), i).is_some() {
            return Err(src.in_check(i, "id", format!("check id `{}` is used twice", c.id)));
        }
        let err = src.in_check(i, "id", "");
        locations.insert(c.id.clone(), err.location);
    }
    for (i, c) in spec.checks.iter().enumerate() {
        validate_check(src, i, c, &spec.checks, &ids)?;
    }
    check_acyclic(src, &spec.checks, &ids)?;
    if let Some(until) = &spec.run.until
        && !ids.contains_key(until)
    {
        return Err(src.in_table(
            "[run]",
            "until",
            format!("run.until names `{until}`, which is no check of this scenario"),
        ));
    }

    // variables in the option 242 string
    if let Some(s) = &spec.dhcp.option242
        && let Err(name) = vars::check_known(s)
    {
        return Err(src.in_table(
            "[dhcp]",
            "option242",
            format!(
                "unknown variable `${{{name}}}`; known: {}",
                vars::KNOWN.join(", ")
            ),
        ));
    }

    validate_infra(src, &spec)?;

    // files
    let dir = src.file.parent().unwrap_or(Path::new("."));
    let mut files = BTreeMap::new();
    for (path, f) in &spec.files {
        let here = |msg: String| src.in_table("[files]", path, msg);
        if path.starts_with('/') || path.split('/').any(|p| p == "..") {
            return Err(here(format!(
                "file path `{path}` must be relative without `..` (it is the request path under the server root)"
            )));
        }
        let kinds = [f.fixture.is_some(), f.text.is_some(), f.firmware.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        let content = match (kinds, f.status) {
            (0, Some(_)) => FileContent::StatusOnly,
            (1, _) => {
                if let Some(fx) = &f.fixture {
                    let p = dir.join(fx);
                    let text = std::fs::read_to_string(&p).map_err(|e| {
                        here(format!(
                            "fixture `{}` for `{path}` cannot be read: {e}",
                            p.display()
                        ))
                    })?;
                    FileContent::Text(text)
                } else if let Some(t) = &f.text {
                    FileContent::Text(t.clone())
                } else if let Some(fw) = &f.firmware {
                    if fw.models.is_empty() {
                        return Err(here(format!("firmware `{path}` names no models")));
                    }
                    FileContent::Firmware(fw.clone())
                } else {
                    FileContent::StatusOnly
                }
            }
            _ => {
                return Err(here(format!(
                    "file `{path}` needs exactly one of fixture, text or firmware (or only a status)"
                )));
            }
        };
        if let Some(code) = f.status
            && !(100..=599).contains(&code)
        {
            return Err(here(format!("status {code} is not an HTTP status code")));
        }
        let behaviours = [
            f.status.is_some(),
            f.cut_after.is_some(),
            f.wrong_length.is_some(),
            f.stall_after.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if behaviours > 1 {
            return Err(here(format!(
                "file `{path}`: status, cut_after, wrong_length and stall_after exclude each other"
            )));
        }
        if f.reset && f.cut_after.is_none() {
            return Err(here(format!("file `{path}`: reset goes with cut_after")));
        }
        if f.stall_after.is_some() != f.pause.is_some() {
            return Err(here(format!(
                "file `{path}`: stall_after and pause go together"
            )));
        }
        for (what, v) in [("delay", f.delay), ("pause", f.pause)] {
            if let Some(x) = v
                && (!x.is_finite() || x < 0.0)
            {
                return Err(here(format!(
                    "file `{path}`: {what} {x} is not 0 or more seconds"
                )));
            }
        }
        if let FileContent::Text(t) = &content
            && let Err(name) = vars::check_known(t)
        {
            return Err(here(format!(
                "file `{path}` uses unknown variable `${{{name}}}`; known: {}",
                vars::KNOWN.join(", ")
            )));
        }
        files.insert(path.clone(), content);
    }

    Ok(Scenario {
        file: src.file.to_path_buf(),
        spec,
        files,
        check_locations: locations,
    })
}

/// Hex digits (spaces and colons allowed between bytes) → bytes.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let digits: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | ':' | '\n'))
        .collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

const MSG_TYPES: &[&str] = &[
    "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM",
];

fn validate_infra(src: &Source<'_>, spec: &ScenarioSpec) -> Result<(), ScenarioError> {
    use super::DhcpRule;
    let d = &spec.dhcp;
    let dhcp = |key: &str, msg: String| src.in_table("[dhcp]", key, msg);
    if d.option242.is_some() && d.option242_hex.is_some() {
        return Err(dhcp(
            "option242_hex",
            "option242 and option242_hex exclude each other".into(),
        ));
    }
    if let Some(h) = &d.option242_hex
        && parse_hex(h).is_none()
    {
        return Err(dhcp("option242_hex", format!("`{h}` is not hex bytes")));
    }
    if d.sson == 0 || d.sson == 255 {
        return Err(dhcp(
            "sson",
            format!(
                "sson {} is pad/end on the wire (RFC 2132 §3.1, §3.2)",
                d.sson
            ),
        ));
    }
    if let Some(a) = &d.siaddr {
        let expanded = a
            .replace("${server_ip}", "10.0.0.1")
            .replace("${dead_ip}", "10.0.0.2");
        if vars::check_known(a).is_err() || expanded.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(dhcp(
                "siaddr",
                format!("siaddr `{a}` is not an IPv4 address, ${{server_ip}} or ${{dead_ip}}"),
            ));
        }
    }
    for o in &d.add {
        let n = [o.text.is_some(), o.hex.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if n != 1 || o.code == 0 || o.code == 255 {
            return Err(dhcp(
                "add",
                format!(
                    "option {} to add needs a code 1–254 and exactly one of text or hex",
                    o.code
                ),
            ));
        }
        if let Some(h) = &o.hex
            && parse_hex(h).is_none()
        {
            return Err(dhcp(
                "add",
                format!("option {}: `{h}` is not hex bytes", o.code),
            ));
        }
        if let Some(t) = &o.text
            && let Err(name) = vars::check_known(t)
        {
            return Err(dhcp(
                "add",
                format!("option {}: unknown variable `${{{name}}}`", o.code),
            ));
        }
    }
    for r in &d.rules {
        let bad = match r {
            DhcpRule::DropFirst { msg_type, .. } | DhcpRule::Delay { msg_type, .. }
                if !MSG_TYPES.contains(&msg_type.to_ascii_uppercase().as_str()) =>
            {
                Some(format!(
                    "`{msg_type}` is no DHCP message type; one of {}",
                    MSG_TYPES.join(", ")
                ))
            }
            DhcpRule::NakRequest { nth: 0 } => Some("nak_request counts from 1".into()),
            DhcpRule::Delay { seconds, .. } | DhcpRule::AnswerAfter { seconds }
                if !seconds.is_finite() || *seconds < 0.0 =>
            {
                Some(format!("{seconds} is not 0 or more seconds"))
            }
            _ => None,
        };
        if let Some(msg) = bad {
            return Err(dhcp("rules", format!("rule {r:?}: {msg}")));
        }
    }

    let mut ids = BTreeSet::new();
    for v in &d.vlan {
        let here = |msg: String| src.in_table("[[dhcp.vlan]]", "id", msg);
        if !(1..=4094).contains(&v.id) {
            return Err(here(format!(
                "VLAN id {} is not 1–4094 (IEEE 802.1Q §9.6)",
                v.id
            )));
        }
        if !ids.insert(v.id) {
            return Err(here(format!("VLAN {} is listed twice", v.id)));
        }
        if let Some(t) = &v.option242
            && let Err(name) = vars::check_known(t)
        {
            return Err(src.in_table(
                "[[dhcp.vlan]]",
                "option242",
                format!("unknown variable `${{{name}}}`"),
            ));
        }
    }

    let sip = |key: &str, msg: String| src.in_table("[sip]", key, msg);
    if let Some(a) = &spec.sip.algorithm
        && !matches!(a.to_ascii_uppercase().as_str(), "MD5" | "SHA-256")
    {
        return Err(sip("algorithm", format!("algorithm `{a}`: MD5 or SHA-256")));
    }
    if spec.sip.controller.len() + 1 > vars::MAX_CONTROLLERS {
        return Err(sip(
            "controller",
            format!("at most {} controllers", vars::MAX_CONTROLLERS),
        ));
    }
    let scripts =
        std::iter::once(&spec.sip.script).chain(spec.sip.controller.iter().map(|c| &c.script));
    for script in scripts {
        for a in script {
            let n = [a.normal, a.status.is_some(), a.silence, a.grant.is_some()]
                .iter()
                .filter(|b| **b)
                .count();
            if n != 1 {
                return Err(sip(
                    "script",
                    "each scripted answer needs exactly one of normal, grant, status or silence"
                        .into(),
                ));
            }
            if let Some(code) = a.status
                && !(100..=699).contains(&code)
            {
                return Err(sip(
                    "script",
                    format!("status {code} is not a SIP status code"),
                ));
            }
            if (a.reason.is_some() || a.retry_after.is_some()) && a.status.is_none() {
                return Err(sip(
                    "script",
                    "reason and retry_after go with a status".into(),
                ));
            }
        }
    }
    if let Some(f) = spec.phone.time_scale
        && (!f.is_finite() || f <= 0.0)
    {
        return Err(src.in_table(
            "[phone]",
            "time_scale",
            format!("time_scale {f} must be more than 0"),
        ));
    }
    Ok(())
}

fn validate_check(
    src: &Source<'_>,
    i: usize,
    c: &CheckSpec,
    checks: &[CheckSpec],
    ids: &BTreeMap<String, usize>,
) -> Result<(), ScenarioError> {
    let kind = c.kind;
    let at = |key: &str, msg: String| src.in_check(i, key, format!("check `{}`: {msg}", c.id));

    // Keys that belong to other kinds.
    let present: [(&str, bool, bool); 14] = [
        ("proto", c.proto.is_some(), kind.selects()),
        ("event", c.event.is_some(), kind.selects()),
        ("match", !c.matchers.is_empty(), kind.selects()),
        ("after", c.after.is_some(), kind.selects()),
        ("within", c.within.is_some(), kind.selects()),
        ("not_before", c.not_before.is_some(), kind.selects()),
        ("exactly", c.exactly.is_some(), kind == CheckKind::Count),
        ("at_least", c.at_least.is_some(), kind == CheckKind::Count),
        ("at_most", c.at_most.is_some(), kind == CheckKind::Count),
        ("first", c.first.is_some(), kind == CheckKind::Order),
        ("then", c.then.is_some(), kind == CheckKind::Order),
        ("gap", c.gap.is_some(), kind == CheckKind::Interval),
        ("left", c.left.is_some(), kind == CheckKind::Compare),
        ("right", c.right.is_some(), kind == CheckKind::Compare),
    ];
    for (key, is_set, allowed) in present {
        if is_set && !allowed {
            return Err(at(
                key,
                format!("`{key}` does not apply to kind `{}`", kind.as_str()),
            ));
        }
    }
    for (key, is_set) in [
        ("growth", c.growth.is_some()),
        ("spread", c.spread.is_some()),
        ("min_events", c.min_events.is_some()),
    ] {
        if is_set && kind != CheckKind::Interval {
            return Err(at(
                key,
                format!("`{key}` does not apply to kind `{}`", kind.as_str()),
            ));
        }
    }

    // Keys the kind needs.
    let need = |key: &str, ok: bool| -> Result<(), ScenarioError> {
        if ok {
            Ok(())
        } else {
            Err(at(
                "kind",
                format!("kind `{}` needs `{key}`", kind.as_str()),
            ))
        }
    };
    if kind.selects() {
        need("proto", c.proto.is_some())?;
        need("event", c.event.is_some())?;
    }
    match kind {
        CheckKind::Count => need(
            "exactly, at_least or at_most",
            c.exactly.is_some() || c.at_least.is_some() || c.at_most.is_some(),
        )?,
        CheckKind::Order => {
            need("first", c.first.is_some())?;
            need("then", c.then.is_some())?;
        }
        CheckKind::Interval => need(
            "gap, growth or spread",
            c.gap.is_some() || c.growth.is_some() || c.spread.is_some(),
        )?,
        CheckKind::Compare => {
            need("left", c.left.is_some())?;
            need("right", c.right.is_some())?;
        }
        CheckKind::Event | CheckKind::Absent => {}
    }

    // References: to a check of this scenario that ends on an event.
    let refer = |key: &str, target: &str| -> Result<(), ScenarioError> {
        let Some(&j) = ids.get(target) else {
            return Err(at(
                key,
                format!("`{key}` names `{target}`, which is no check of this scenario"),
            ));
        };
        if target == c.id {
            return Err(at(key, format!("`{key}` cannot name the check itself")));
        }
        let k = checks[j].kind;
        if !k.anchors() {
            return Err(at(
                key,
                format!(
                    "`{key}` names `{target}`, a check of kind `{}`, which finds no event to refer to",
                    k.as_str()
                ),
            ));
        }
        Ok(())
    };
    if let Some(a) = &c.after {
        refer("after", a)?;
    }
    if let Some(a) = &c.first {
        refer("first", a)?;
    }
    if let Some(a) = &c.then {
        refer("then", a)?;
    }
    for (key, side) in [("left", &c.left), ("right", &c.right)] {
        if let Some(v) = side {
            refer(key, &v.check)?;
            if let Some(r) = &v.regex {
                compile(r).map_err(|e| at(key, format!("`{key}.regex` does not compile: {e}")))?;
            }
        }
    }
    if let (Some(a), Some(b)) = (&c.first, &c.then)
        && a == b
    {
        return Err(at("then", format!("`first` and `then` both name `{a}`")));
    }

    // Windows and numbers.
    let seconds = |key: &str, v: Option<f64>| -> Result<(), ScenarioError> {
        match v {
            Some(w) if !w.is_finite() || w < 0.0 => Err(at(
                key,
                format!("`{key}` must be 0 or more seconds, not {w}"),
            )),
            _ => Ok(()),
        }
    };
    seconds("within", c.within)?;
    seconds("not_before", c.not_before)?;
    if let (Some(lo), Some(hi)) = (c.not_before, c.within)
        && lo > hi
    {
        return Err(at(
            "not_before",
            format!("the window is empty: not_before {lo} s is after within {hi} s"),
        ));
    }
    if c.exactly.is_some() && (c.at_least.is_some() || c.at_most.is_some()) {
        return Err(at(
            "exactly",
            "`exactly` excludes `at_least` and `at_most`".into(),
        ));
    }
    if let (Some(lo), Some(hi)) = (c.at_least, c.at_most)
        && lo > hi
    {
        return Err(at(
            "at_least",
            format!("at_least {lo} is more than at_most {hi}"),
        ));
    }
    if let Some([lo, hi]) = c.gap {
        if !lo.is_finite() || !hi.is_finite() || lo < 0.0 {
            return Err(at(
                "gap",
                format!("gap [{lo}, {hi}] must be 0 or more seconds"),
            ));
        }
        if lo > hi {
            return Err(at("gap", format!("gap [{lo}, {hi}] has min > max")));
        }
    }
    if let Some(g) = c.growth
        && (!g.factor.is_finite() || g.factor <= 0.0 || !(0.0..1.0).contains(&g.tolerance))
    {
        return Err(at(
            "growth",
            format!(
                "growth needs factor > 0 and tolerance in [0, 1), not factor {} tolerance {}",
                g.factor, g.tolerance
            ),
        ));
    }
    if let Some(s) = c.spread {
        if !s.of.is_finite() || s.of <= 0.0 {
            return Err(at(
                "spread",
                format!("spread.of must be more than 0 seconds, not {}", s.of),
            ));
        }
        if s.min_pct < 0.0 || s.min_pct > s.max_pct {
            return Err(at(
                "spread",
                format!(
                    "spread {}–{} % has min > max (or a negative share)",
                    s.min_pct, s.max_pct
                ),
            ));
        }
    }
    if let Some(n) = c.min_events
        && n < 2
    {
        return Err(at(
            "min_events",
            format!("min_events is {n}; gaps need at least 2 events"),
        ));
    }
    for (field, m) in &c.matchers {
        let here = |msg: String| src.in_check(i, field, msg);
        match m {
            Matcher::Rule(rule) => validate_rule(rule)
                .map_err(|e| here(format!("check `{}`, field `{field}`: {e}", c.id)))?,
            Matcher::Text(t) => {
                if let Err(name) = vars::check_known(t) {
                    return Err(here(format!(
                        "check `{}`: unknown variable `${{{name}}}`",
                        c.id
                    )));
                }
            }
            Matcher::Integer(_) | Matcher::Bool(_) => {}
        }
    }
    Ok(())
}

fn compile(r: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(r).map_err(|e| {
        e.to_string()
            .lines()
            .last()
            .unwrap_or("")
            .trim()
            .to_string()
    })
}

fn validate_rule(rule: &MatchRule) -> Result<(), String> {
    let set = [
        rule.equals.is_some(),
        rule.contains.is_some(),
        rule.regex.is_some(),
        rule.range.is_some(),
        rule.present.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if set != 1 {
        return Err(
            "a matcher needs exactly one of equals, contains, regex, range, present".into(),
        );
    }
    if let Some(r) = &rule.regex {
        compile(r).map_err(|e| format!("regex does not compile: {e}"))?;
    }
    if let Some([lo, hi]) = rule.range
        && lo > hi
    {
        return Err(format!("range [{lo}, {hi}] has min > max"));
    }
    Ok(())
}

fn check_acyclic(
    src: &Source<'_>,
    checks: &[CheckSpec],
    ids: &BTreeMap<String, usize>,
) -> Result<(), ScenarioError> {
    for (i, c) in checks.iter().enumerate() {
        let mut seen = BTreeSet::new();
        let mut cur = c.after.as_ref();
        while let Some(next) = cur {
            if !seen.insert(next.clone()) || next == &c.id {
                return Err(src.in_check(
                    i,
                    "after",
                    format!("check `{}`: `after` references form a cycle", c.id),
                ));
            }
            cur = ids.get(next).and_then(|&j| checks[j].after.as_ref());
        }
    }
    Ok(())
}

/// Parses `00:1b:4f:27:31:2a` (also with `-`).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *m = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

/// Expands paths into scenario files: a file is taken as is, a folder is searched
/// recursively for `*.toml` files (skipping `expectations/` and fixture folders' non-TOML).
/// Sorted for a stable order.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).map_err(|e| ScenarioError {
                location: Location {
                    file: p.clone(),
                    line: 1,
                    col: 1,
                },
                message: format!("cannot read folder: {e}"),
                snippet: None,
            })?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(ScenarioError {
                location: Location {
                    file: p.clone(),
                    line: 1,
                    col: 1,
                },
                message: "no such scenario file or folder".into(),
                snippet: None,
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            if name != "expectations" && name != "fixtures" {
                walk(&p, out)?;
            }
        } else if name.ends_with(".toml") {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "T-1"
title = "t"
family = "boot"

[phone]
model = "9620"
firmware = "S96x0_SALBR2_6_0_0.bin"
mac = "00:1b:4f:27:31:2a"
user = "2001"
password = "1234"

[dhcp]
option242 = "HTTPSRVR=${server_ip}"

[sip]
domain = "lab.test"
accounts = [{ user = "2001", password = "1234" }]

[run]
timeout = 10

[[check]]
id = "A"
title = "a"
requirement = "r"
kind = "event"
proto = "dhcp"
event = "received"
match = { msg_type = "DISCOVER" }

[[check]]
id = "B"
title = "b"
requirement = "r"
kind = "event"
proto = "http"
event = "request"
after = "A"
"#;

    fn load(text: &str) -> Result<Scenario, ScenarioError> {
        load_str(Path::new("s/x.toml"), text)
    }

    /// The first line of the error, as the terminal shows it.
    fn err(text: &str) -> String {
        let e = load(text).unwrap_err();
        e.to_string().lines().next().unwrap().to_string()
    }

    /// GOOD with one more check appended.
    fn with_check(body: &str) -> String {
        format!("{GOOD}\n[[check]]\nid = \"C\"\ntitle = \"c\"\nrequirement = \"r\"\n{body}\n")
    }

    #[test]
    fn a_good_file_loads() {
        let s = load(GOOD).unwrap();
        assert_eq!(s.spec.checks.len(), 2);
        assert_eq!(s.check_locations["B"].line, 33);
    }

    #[test]
    fn unknown_key_points_at_its_line_and_column() {
        let text = GOOD.replace("[run]\ntimeout = 10", "[run]\ntimeout = 10\n  colour = 3");
        let e = load(&text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "scenario error at s/x.toml:22:3: unknown field `colour`, expected one of `timeout`, `lab`, `until`, `settle`\n   |\n22 |   colour = 3\n   |   ^"
        );
    }

    #[test]
    fn unknown_key_in_a_check() {
        assert_eq!(
            err(&GOOD.replace("after = \"A\"", "after = \"A\"\nbefore = \"A\"")),
            "scenario error at s/x.toml:40:1: unknown field `before`, expected one of `id`, `title`, `requirement`, `level`, `kind`, `proto`, `event`, `match`, `after`, `within`, `not_before`, `exactly`, `at_least`, `at_most`, `first`, `then`, `gap`, `growth`, `spread`, `min_events`, `left`, `right`"
        );
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        assert_eq!(
            err(&GOOD.replace("timeout = 10", "timeout = \"ten\"")),
            "scenario error at s/x.toml:21:11: invalid type: string \"ten\", expected f64"
        );
    }

    #[test]
    fn unknown_check_kind() {
        assert_eq!(
            err(&GOOD.replace(
                "kind = \"event\"\nproto = \"http\"",
                "kind = \"sometimes\"\nproto = \"http\""
            )),
            "scenario error at s/x.toml:36:8: unknown variant `sometimes`, expected one of `event`, `absent`, `count`, `order`, `interval`, `compare`"
        );
    }

    #[test]
    fn missing_kind() {
        assert_eq!(
            err(&GOOD.replace("kind = \"event\"\nproto = \"http\"", "proto = \"http\"")),
            "scenario error at s/x.toml:32:1: missing field `kind`"
        );
    }

    #[test]
    fn a_key_of_another_kind_is_named() {
        assert_eq!(
            err(&with_check(
                "kind = \"event\"\nproto = \"sip\"\nevent = \"request\"\nexactly = 2"
            )),
            "scenario error at s/x.toml:48:1: check `C`: `exactly` does not apply to kind `event`"
        );
        assert_eq!(
            err(&with_check(
                "kind = \"order\"\nfirst = \"A\"\nthen = \"B\"\nwithin = 3"
            )),
            "scenario error at s/x.toml:48:1: check `C`: `within` does not apply to kind `order`"
        );
    }

    #[test]
    fn a_key_the_kind_needs() {
        assert_eq!(
            err(&with_check(
                "kind = \"count\"\nproto = \"sip\"\nevent = \"request\""
            )),
            "scenario error at s/x.toml:45:1: check `C`: kind `count` needs `exactly, at_least or at_most`"
        );
        assert_eq!(
            err(&with_check("kind = \"event\"\nevent = \"request\"")),
            "scenario error at s/x.toml:45:1: check `C`: kind `event` needs `proto`"
        );
        assert_eq!(
            err(&with_check("kind = \"order\"\nfirst = \"A\"")),
            "scenario error at s/x.toml:45:1: check `C`: kind `order` needs `then`"
        );
    }

    #[test]
    fn reference_to_an_unknown_check() {
        assert_eq!(
            err(&GOOD.replace("after = \"A\"", "after = \"Z\"")),
            "scenario error at s/x.toml:39:1: check `B`: `after` names `Z`, which is no check of this scenario"
        );
        assert_eq!(
            err(&with_check("kind = \"order\"\nfirst = \"A\"\nthen = \"Q\"")),
            "scenario error at s/x.toml:47:1: check `C`: `then` names `Q`, which is no check of this scenario"
        );
        assert_eq!(
            err(&with_check(
                "kind = \"compare\"\nleft = { check = \"A\", field = \"x\" }\nright = { check = \"N\", field = \"y\" }"
            )),
            "scenario error at s/x.toml:47:1: check `C`: `right` names `N`, which is no check of this scenario"
        );
    }

    #[test]
    fn reference_to_a_check_without_an_event() {
        let text = with_check("kind = \"absent\"\nproto = \"sip\"\nevent = \"request\"")
            + "\n[[check]]\nid = \"D\"\ntitle = \"d\"\nrequirement = \"r\"\nkind = \"event\"\nproto = \"sip\"\nevent = \"request\"\nafter = \"C\"\n";
        assert_eq!(
            err(&text),
            "scenario error at s/x.toml:56:1: check `D`: `after` names `C`, a check of kind `absent`, which finds no event to refer to"
        );
    }

    #[test]
    fn duplicate_check_ids() {
        assert_eq!(
            err(&GOOD.replace("id = \"B\"", "id = \"A\"")),
            "scenario error at s/x.toml:33:1: check id `A` is used twice"
        );
    }

    #[test]
    fn a_window_with_min_after_max() {
        assert_eq!(
            err(&GOOD.replace("after = \"A\"", "after = \"A\"\nnot_before = 5\nwithin = 2")),
            "scenario error at s/x.toml:40:1: check `B`: the window is empty: not_before 5 s is after within 2 s"
        );
        assert_eq!(
            err(&with_check(
                "kind = \"interval\"\nproto = \"sip\"\nevent = \"request\"\ngap = [30, 10]"
            )),
            "scenario error at s/x.toml:48:1: check `C`: gap [30, 10] has min > max"
        );
        assert_eq!(
            err(&with_check(
                "kind = \"count\"\nproto = \"sip\"\nevent = \"request\"\nat_least = 3\nat_most = 1"
            )),
            "scenario error at s/x.toml:48:1: check `C`: at_least 3 is more than at_most 1"
        );
        assert_eq!(
            err(&with_check(
                "kind = \"interval\"\nproto = \"sip\"\nevent = \"request\"\nspread = { of = 60, min_pct = 90, max_pct = 50 }"
            )),
            "scenario error at s/x.toml:48:1: check `C`: spread 90–50 % has min > max (or a negative share)"
        );
        assert_eq!(
            err(&GOOD.replace(
                "{ msg_type = \"DISCOVER\" }",
                "{ secs = { range = [5, 1] } }"
            )),
            "scenario error at s/x.toml:30:11: check `A`, field `secs`: range [5, 1] has min > max"
        );
    }

    #[test]
    fn a_negative_window() {
        assert_eq!(
            err(&GOOD.replace("after = \"A\"", "after = \"A\"\nwithin = -1")),
            "scenario error at s/x.toml:40:1: check `B`: `within` must be 0 or more seconds, not -1"
        );
    }

    #[test]
    fn a_regex_that_does_not_compile() {
        assert_eq!(
            err(&GOOD.replace(
                "{ msg_type = \"DISCOVER\" }",
                "{ msg_type = { regex = \"(\" } }"
            )),
            "scenario error at s/x.toml:30:11: check `A`, field `msg_type`: regex does not compile: error: unclosed group"
        );
        assert_eq!(
            err(&with_check(
                "kind = \"compare\"\nleft = { check = \"A\", field = \"x\", regex = \"[\" }\nright = { check = \"B\", field = \"y\" }"
            )),
            "scenario error at s/x.toml:46:1: check `C`: `left.regex` does not compile: error: unclosed character class"
        );
    }

    #[test]
    fn an_unknown_variable() {
        assert_eq!(
            err(&GOOD.replace("${server_ip}", "${nope}")),
            "scenario error at s/x.toml:14:1: unknown variable `${nope}`; known: server_ip, dead_ip, http_port, sip_port, sip_port_2, sip_port_3, sip_port_4, phone_mac, phone_mac_hex, sip_domain"
        );
    }

    #[test]
    fn a_missing_fixture() {
        let text = GOOD.replace(
            "[sip]",
            "[files]\n\"fw/96xxupgrade.txt\" = { fixture = \"nope.txt\" }\n\n[sip]",
        );
        assert_eq!(
            err(&text),
            "scenario error at s/x.toml:17:1: fixture `s/nope.txt` for `fw/96xxupgrade.txt` cannot be read: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn after_cycles() {
        let text = GOOD.replace(
            "match = { msg_type = \"DISCOVER\" }",
            "match = { msg_type = \"DISCOVER\" }\nafter = \"B\"",
        );
        assert_eq!(
            err(&text),
            "scenario error at s/x.toml:31:1: check `A`: `after` references form a cycle"
        );
    }

    #[test]
    fn infrastructure_keys_load() {
        let text = GOOD
            .replace(
                "option242 = \"HTTPSRVR=${server_ip}\"",
                "option242_hex = \"48 54 54 50\"\nsiaddr = \"${server_ip}\"\nomit = [51]\norder = [53, 54]\nadd = [{ code = 66, text = \"${server_ip}\" }, { code = 43, hex = \"01 04 36 38 38 39\" }]\nrules = [{ action = \"drop_first\", msg_type = \"DISCOVER\", count = 2 }, { action = \"nak_request\", nth = 2 }, { action = \"delay\", msg_type = \"REQUEST\", seconds = 1.5 }, { action = \"answer_after\", seconds = 3 }]",
            )
            .replace(
                "accounts = [{ user = \"2001\", password = \"1234\" }]",
                "accounts = [{ user = \"2001\", password = \"1234\" }]\nscript = [{ status = 503, retry_after = 30 }, { silence = true }, { normal = true }]\ndown = false\n\n[[sip.controller]]\ndown = true",
            );
        let s = load(&text).unwrap();
        assert_eq!(
            parse_hex(s.spec.dhcp.option242_hex.as_deref().unwrap()),
            Some(b"HTTP".to_vec())
        );
        assert_eq!(s.spec.dhcp.rules.len(), 4);
        assert_eq!(s.spec.sip.script.len(), 3);
        assert_eq!(s.spec.sip.controller.len(), 1);
    }

    #[test]
    fn bad_infrastructure_keys() {
        let dhcp = |extra: &str| {
            err(&GOOD.replace(
                "option242 = \"HTTPSRVR=${server_ip}\"",
                &format!("option242 = \"HTTPSRVR=${{server_ip}}\"\n{extra}"),
            ))
        };
        assert_eq!(
            dhcp("option242_hex = \"4854\""),
            "scenario error at s/x.toml:15:1: option242 and option242_hex exclude each other"
        );
        assert_eq!(
            dhcp("rules = [{ action = \"drop_first\", msg_type = \"HELLO\", count = 1 }]"),
            "scenario error at s/x.toml:15:1: rule DropFirst { msg_type: \"HELLO\", count: 1 }: `HELLO` is no DHCP message type; one of DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM"
        );
        assert_eq!(
            dhcp("rules = [{ action = \"sometimes\" }]"),
            "scenario error at s/x.toml:15:21: unknown variant `sometimes`, expected one of `drop_first`, `nak_request`, `delay`, `answer_after`"
        );
        assert_eq!(
            dhcp("add = [{ code = 66, text = \"a\", hex = \"62\" }]"),
            "scenario error at s/x.toml:15:1: option 66 to add needs a code 1–254 and exactly one of text or hex"
        );
        assert_eq!(
            dhcp("siaddr = \"ten.0.0.1\""),
            "scenario error at s/x.toml:15:1: siaddr `ten.0.0.1` is not an IPv4 address, ${server_ip} or ${dead_ip}"
        );
        let sip = |extra: &str| {
            err(&GOOD.replace(
                "accounts = [{ user = \"2001\", password = \"1234\" }]",
                &format!("accounts = [{{ user = \"2001\", password = \"1234\" }}]\n{extra}"),
            ))
        };
        assert_eq!(
            sip("script = [{ status = 503, silence = true }]"),
            "scenario error at s/x.toml:19:1: each scripted answer needs exactly one of normal, grant, status or silence"
        );
        assert_eq!(
            sip("script = [{ retry_after = 5, normal = true }]"),
            "scenario error at s/x.toml:19:1: reason and retry_after go with a status"
        );
        assert_eq!(
            sip("algorithm = \"SHA-1\""),
            "scenario error at s/x.toml:19:1: algorithm `SHA-1`: MD5 or SHA-256"
        );
        let file = |spec: &str| {
            err(&GOOD.replace(
                "[sip]",
                &format!("[files]\n\"fw/a.txt\" = {{ {spec} }}\n\n[sip]"),
            ))
        };
        assert_eq!(
            file("text = \"a\", status = 404, cut_after = 3"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: status, cut_after, wrong_length and stall_after exclude each other"
        );
        assert_eq!(
            file("text = \"a\", stall_after = 3"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: stall_after and pause go together"
        );
        assert_eq!(
            file("firmware = { version = \"1\", models = [\"96x0\"], corrupt = \"burnt\" }"),
            "scenario error at s/x.toml:17:73: unknown variant `burnt`, expected one of `flip_byte`, `truncate`, `bad_signature`"
        );
    }

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(
            parse_mac("00:1b:4f:27:31:2a"),
            Some([0, 0x1b, 0x4f, 0x27, 0x31, 0x2a])
        );
        assert_eq!(parse_mac("00:1b:4f:27:31"), None);
        assert_eq!(parse_mac("00:1b:4f:27:31:2g"), None);
    }
}
