//! Loading a scenario file: TOML → [`ScenarioSpec`] → validated [`Scenario`].
//!
//! Every error names `file:line:col` and shows the line with a caret, the way compilers do,
//! so an admin editing a scenario sees exactly what to fix.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::vars;
use super::{CheckSpec, FileContent, MatchRule, Matcher, Scenario, ScenarioSpec};

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
        validate_check(src, i, c, &ids)?;
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

fn validate_check(
    src: &Source<'_>,
    i: usize,
    c: &CheckSpec,
    ids: &BTreeMap<String, usize>,
) -> Result<(), ScenarioError> {
    if let Some(after) = &c.after {
        if !ids.contains_key(after) {
            return Err(src.in_check(
                i,
                "after",
                format!(
                    "check `{}` is after `{after}`, which is no check of this scenario",
                    c.id
                ),
            ));
        }
        if after == &c.id {
            return Err(src.in_check(
                i,
                "after",
                format!("check `{}` cannot be after itself", c.id),
            ));
        }
    }
    if let Some(w) = c.within
        && (w.is_nan() || w < 0.0)
    {
        return Err(src.in_check(
            i,
            "within",
            format!("check `{}`: within must be 0 or more seconds", c.id),
        ));
    }
    if let Some(count) = c.count {
        if let (Some(min), Some(max)) = (count.min, count.max)
            && min > max
        {
            return Err(src.in_check(
                i,
                "count",
                format!("check `{}`: count min {min} is more than max {max}", c.id),
            ));
        }
        if c.absent {
            return Err(src.in_check(
                i,
                "count",
                format!("check `{}`: `absent` and `count` exclude each other", c.id),
            ));
        }
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
        regex::Regex::new(r).map_err(|e| {
            format!(
                "regex does not compile: {}",
                e.to_string().lines().last().unwrap_or("")
            )
        })?;
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
proto = "dhcp"
event = "received"
match = { msg_type = "DISCOVER" }

[[check]]
id = "B"
title = "b"
requirement = "r"
proto = "http"
event = "request"
after = "A"
"#;

    fn load(text: &str) -> Result<Scenario, ScenarioError> {
        load_str(Path::new("s/x.toml"), text)
    }

    #[test]
    fn a_good_file_loads() {
        let s = load(GOOD).unwrap();
        assert_eq!(s.spec.checks.len(), 2);
        assert_eq!(s.check_locations["B"].line, 32);
    }

    #[test]
    fn unknown_key_points_at_its_line_and_column() {
        let text = GOOD.replace("[run]\ntimeout = 10", "[run]\ntimeout = 10\n  colour = 3");
        let e = load(&text).unwrap_err();
        assert_eq!((e.location.line, e.location.col), (22, 3), "{e}");
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert!(e.snippet.unwrap().contains("22 |   colour = 3"));
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let e = load(&GOOD.replace("timeout = 10", "timeout = \"ten\"")).unwrap_err();
        assert_eq!(e.location.line, 21, "{e}");
        assert_eq!(
            e.location.to_string(),
            format!("s/x.toml:21:{}", e.location.col)
        );
    }

    #[test]
    fn reference_to_unknown_check_is_named() {
        let e = load(&GOOD.replace("after = \"A\"", "after = \"Z\"")).unwrap_err();
        assert_eq!(e.location.line, 37, "{e}");
        assert!(e.message.contains("`Z`, which is no check"), "{e}");
    }

    #[test]
    fn duplicate_check_ids_are_refused() {
        let e = load(&GOOD.replace("id = \"B\"", "id = \"A\"")).unwrap_err();
        assert!(e.message.contains("used twice"), "{e}");
        assert_eq!(e.location.line, 32);
    }

    #[test]
    fn bad_regex_and_bad_range_are_refused() {
        let e = load(&GOOD.replace(
            "{ msg_type = \"DISCOVER\" }",
            "{ msg_type = { regex = \"(\" } }",
        ))
        .unwrap_err();
        assert!(e.message.contains("regex does not compile"), "{e}");
        assert_eq!(e.location.line, 29);
        let e = load(&GOOD.replace(
            "{ msg_type = \"DISCOVER\" }",
            "{ secs = { range = [5, 1] } }",
        ))
        .unwrap_err();
        assert!(e.message.contains("min > max"), "{e}");
    }

    #[test]
    fn unknown_variable_is_refused() {
        let e = load(&GOOD.replace("${server_ip}", "${nope}")).unwrap_err();
        assert!(e.message.contains("unknown variable `${nope}`"), "{e}");
        assert_eq!(e.location.line, 14);
    }

    #[test]
    fn missing_fixture_is_named() {
        let text = GOOD.replace(
            "[sip]",
            "[files]\n\"fw/96xxupgrade.txt\" = { fixture = \"nope.txt\" }\n\n[sip]",
        );
        let e = load(&text).unwrap_err();
        assert!(e.message.contains("nope.txt"), "{e}");
        assert_eq!(e.location.line, 17);
    }

    #[test]
    fn after_cycles_are_refused() {
        let text = GOOD.replace(
            "match = { msg_type = \"DISCOVER\" }",
            "match = { msg_type = \"DISCOVER\" }\nafter = \"B\"",
        );
        let e = load(&text).unwrap_err();
        assert!(e.message.contains("cycle"), "{e}");
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
