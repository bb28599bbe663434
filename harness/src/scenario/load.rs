//! Loading a scenario file: TOML → [`ScenarioSpec`] (the file as written) → typed
//! [`Scenario`].
//!
//! Every error names `file:line:col` and shows the line with a caret, the way compilers do,
//! so an admin editing a scenario sees exactly what to fix; a file's errors all come at once,
//! in file order. Event kinds and field paths are held to [`crate::vocab`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::vars;
use super::{
    Bounds, Check, CheckKind, CheckSpec, Cond, Controller, Delivery, DhcpPlan, FieldMatch,
    FileContent, FileSpec, HeaderText, HeaderVariants, ImageCorruption, ImageFile, Kind, Matcher,
    OptionValue, Pattern, RangeMode, Scenario, ScenarioSpec, Select, ServedFile, Siaddr, SipAnswer,
    SipPlan, TextPart, ValueFrom, Window,
};

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
            // inline tables: `match = { key = ... }`, the key standing on its own (not the
            // end of `msg_type` when looking for `type`)
            let bare = format!("{key} =");
            let quoted = format!("\"{key}\" =");
            let found = l
                .match_indices(&bare)
                .chain(l.match_indices(&quoted))
                .map(|(pos, _)| pos)
                .filter(|&pos| pos > indent)
                .find(|&pos| {
                    l[..pos]
                        .chars()
                        .next_back()
                        .is_some_and(|c| matches!(c, ' ' | '{' | ','))
                });
            if let Some(pos) = found {
                return Some((i + 1, pos + 1));
            }
        }
        None
    }

    /// An error at the value of `key` in check `index` (where `key = value` has it), else
    /// at the key.
    fn value_in_check(&self, index: usize, key: &str, message: impl Into<String>) -> ScenarioError {
        let headers = self.check_headers();
        let start = headers.get(index).copied().unwrap_or(1);
        let Some((line, col)) = self.key_in_block(start, key) else {
            return self.at(start, 1, message);
        };
        let text = self.text.lines().nth(line - 1).unwrap_or("");
        let after_key: String = text.chars().skip(col - 1).collect();
        let value_col = after_key
            .find('=')
            .map(|eq| {
                let rest = &after_key[eq + 1..];
                col + after_key[..eq + 1].chars().count() + (rest.len() - rest.trim_start().len())
            })
            .unwrap_or(col);
        self.at(line, value_col, message)
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

/// Every error of one scenario file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl ScenarioErrors {
    fn sorted(mut list: Vec<ScenarioError>) -> Self {
        // Stable: errors at the same place keep the order they were found in.
        list.sort_by_key(|e| (e.location.line, e.location.col));
        ScenarioErrors(list)
    }

    /// The first error in the file.
    pub fn first(&self) -> Option<&ScenarioError> {
        self.0.first()
    }
}

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

impl From<ScenarioError> for ScenarioErrors {
    fn from(e: ScenarioError) -> Self {
        ScenarioErrors(vec![e])
    }
}

/// Loads and validates one scenario file. Fixture files are read relative to it.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioErrors> {
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

/// The TOML reader's message in the words of a scenario author: an unknown key or value gets
/// the nearest known one (`unknown field `witin`, expected one of …; did you mean `within`?`),
/// and Rust type names become what the file would hold (`f64` → `a number`).
fn readable_toml_message(message: &str) -> String {
    let mut out = message
        .replace("expected f64", "expected a number")
        .replace("expected u8", "expected a whole number from 0 to 255")
        .replace("expected u16", "expected a whole number from 0 to 65535")
        .replace("expected u32", "expected a whole number of 0 or more")
        .replace("expected u64", "expected a whole number of 0 or more")
        .replace("expected usize", "expected a whole number of 0 or more")
        .replace("expected i64", "expected a whole number");
    if let Some(rest) = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))
        && let Some((word, expected)) = rest.split_once('`')
        && let Some(list) = expected
            .strip_prefix(", expected one of ")
            .or_else(|| expected.strip_prefix(", expected "))
    {
        // serde writes three or more names as "one of `a`, `b`, `c`", two as "`a` or `b`".
        let known = list
            .split(", ")
            .flat_map(|k| k.split(" or "))
            .map(|k| k.trim_matches('`'));
        if let Some(s) = crate::vocab::nearest(word, known) {
            out.push_str(&format!("; did you mean `{s}`?"));
        }
    }
    out
}

/// Takes the key whose name starts at byte `at` out of `table` or any table or array of
/// tables inside it. `false`: no key starts there.
fn remove_key_at(table: &mut toml::de::DeTable<'_>, at: usize) -> bool {
    let here = table
        .keys()
        .find(|k| k.span().start == at)
        .map(|k| k.get_ref().to_string());
    if let Some(name) = here {
        return table.remove(name.as_str()).is_some();
    }
    table
        .iter_mut()
        .any(|(_, v)| remove_key_in(v.get_mut(), at))
}

fn remove_key_in(value: &mut toml::de::DeValue<'_>, at: usize) -> bool {
    match value {
        toml::de::DeValue::Table(t) => remove_key_at(t, at),
        toml::de::DeValue::Array(a) => a.iter_mut().any(|v| remove_key_in(v.get_mut(), at)),
        _ => false,
    }
}

/// Loads and validates scenario text as if it came from `path`.
///
/// A file that is not valid TOML gives the one error the TOML reader stops at. Every unknown
/// key of every table is reported: each is taken out of the document once named, and the
/// rest read again, so one pass names them all. A value that does not fit the format's types
/// (a required key missing included) stops the reading there, after the unknown keys found
/// so far; a file that fits gives every error of every check and table as well.
pub fn load_str(path: &Path, text: &str) -> Result<Scenario, ScenarioErrors> {
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    let src = Source { file: path, text };
    let located = |e: &toml::de::Error| {
        let message = readable_toml_message(e.message().trim());
        match e.span() {
            Some(span) => src.at_offset(span.start, message),
            None => src.whole_file(message),
        }
    };
    let mut doc = toml::de::DeTable::parse(text).map_err(|e| located(&e))?;
    let mut errs = Vec::new();
    let spec = loop {
        match ScenarioSpec::deserialize(doc.clone().into_deserializer()) {
            Ok(spec) => break Some(spec),
            Err(e) => {
                errs.push(located(&e));
                // An unknown key is taken out and the document read again; any other misfit
                // stops the reading (the types after it cannot be trusted).
                let unknown = e.message().starts_with("unknown field `");
                let removed = unknown
                    && e.span()
                        .is_some_and(|at| remove_key_at(doc.get_mut(), at.start));
                if !removed {
                    break None;
                }
            }
        }
    };
    let Some(spec) = spec else {
        return Err(ScenarioErrors::sorted(errs));
    };
    let scenario = validate(&src, spec, &mut errs);
    if errs.is_empty() {
        Ok(scenario)
    } else {
        Err(ScenarioErrors::sorted(errs))
    }
}

/// The longest span of time a scenario may name: 30 days. Nothing a phone does at boot
/// takes longer, and every time must fit a `Duration` after scaling (`1e20` would not).
pub const LONGEST_S: f64 = 30.0 * 24.0 * 3600.0;

/// Why `seconds` is not a time of 0 up to [`LONGEST_S`] (`strict`: more than 0), if not.
fn bad_seconds(seconds: f64, strict: bool) -> Option<String> {
    if !seconds.is_finite() || seconds < 0.0 || (strict && seconds == 0.0) {
        Some(if strict {
            "must be more than 0 seconds".to_string()
        } else {
            "must be 0 or more seconds".to_string()
        })
    } else if seconds > LONGEST_S {
        Some(format!(
            "must be at most {LONGEST_S} seconds (30 days), not {seconds}"
        ))
    } else {
        None
    }
}

/// Builds the typed scenario, pushing every problem onto `errs`. The result is only valid
/// when `errs` stays empty; the caller throws it away otherwise.
fn validate(src: &Source<'_>, mut spec: ScenarioSpec, errs: &mut Vec<ScenarioError>) -> Scenario {
    if spec.id.trim().is_empty() {
        errs.push(src.in_table("", "id", "scenario id is empty"));
    }
    let known_profiles = crate::profile::Profile::names();
    for p in &spec.profiles {
        if !known_profiles.contains(p) {
            errs.push(src.in_table(
                "",
                "profiles",
                format!(
                    "unknown profile `{p}`; known: {}",
                    known_profiles.join(", ")
                ),
            ));
        }
    }
    let raw_checks = std::mem::take(&mut spec.checks);
    if raw_checks.is_empty() {
        errs.push(src.whole_file("a scenario needs at least one [[check]]"));
    }
    if let Some(why) = bad_seconds(spec.run.timeout, true) {
        errs.push(src.in_table("[run]", "timeout", format!("run.timeout {why}")));
    }
    if !spec.run.settle.is_finite() || spec.run.settle < 0.0 {
        errs.push(src.in_table("[run]", "settle", "run.settle must not be negative"));
    } else if let Some(why) = bad_seconds(spec.run.settle, false) {
        errs.push(src.in_table("[run]", "settle", format!("run.settle {why}")));
    }
    if parse_mac(&spec.phone.mac).is_none() {
        errs.push(src.in_table(
            "[phone]",
            "mac",
            format!(
                "`{}` is not a MAC address like 00:1b:4f:27:31:2a",
                spec.phone.mac
            ),
        ));
    }
    // The phone may be named through the run's profile (`model = "${profile.model}"`); the
    // lab's addresses and ports mean nothing there.
    for (key, value) in [
        ("model", &spec.phone.model),
        ("firmware", &spec.phone.firmware),
    ] {
        if let Some(name) = vars::names(value).find(|n| !n.starts_with("profile.")) {
            errs.push(src.in_table(
                "[phone]",
                key,
                format!("phone.{key} may use only the profile's variables, not `${{{name}}}`"),
            ));
        } else if let Err(name) = vars::check_known(value) {
            errs.push(src.in_table(
                "[phone]",
                key,
                format!(
                    "phone.{key} uses unknown variable `${{{name}}}`; known: {}",
                    crate::profile::VARS.join(", ")
                ),
            ));
        }
    }
    if let Some(h) = &spec.phone.hardware
        && (h.len() != 4 || !h.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        errs.push(src.in_table(
            "[phone]",
            "hardware",
            format!("`{h}` is not a hardware version of four letters or digits like D01A"),
        ));
    }
    if let Some(g) = spec.phone.group
        && g > 999
    {
        errs.push(src.in_table("[phone]", "group", format!("group {g} is not in 0–999")));
    }
    if let Some(f) = spec.phone.time_scale
        && (!f.is_finite() || f <= 0.0)
    {
        errs.push(src.in_table(
            "[phone]",
            "time_scale",
            format!("time_scale {f} must be more than 0"),
        ));
    }

    // Checks: unique ids first, so references can be resolved.
    let mut ids = BTreeMap::new();
    for (i, c) in raw_checks.iter().enumerate() {
        if ids.contains_key(&c.id) {
            errs.push(src.in_check(i, "id", format!("check id `{}` is used twice", c.id)));
        } else {
            ids.insert(c.id.clone(), i);
        }
    }
    let checks: Vec<Check> = raw_checks
        .iter()
        .enumerate()
        .filter_map(|(i, c)| typed_check(src, i, c, &raw_checks, &ids, errs))
        .collect();
    check_acyclic(src, &raw_checks, &ids, errs);
    if let Some(until) = &spec.run.until
        && !ids.contains_key(until)
    {
        errs.push(src.in_table(
            "[run]",
            "until",
            format!("run.until names `{until}`, which is no check of this scenario"),
        ));
    }
    if let Some(cycle) = &spec.run.power_cycle {
        if !ids.contains_key(&cycle.after) {
            errs.push(src.in_table(
                "[run]",
                "power_cycle",
                format!(
                    "run.power_cycle.after names `{}`, which is no check of this scenario",
                    cycle.after
                ),
            ));
        }
        if let Some(why) = bad_seconds(cycle.off, false) {
            errs.push(src.in_table("[run]", "power_cycle", format!("run.power_cycle.off {why}")));
        }
    }

    let dhcp = dhcp_plan(src, &spec, errs);
    let sip = sip_plan(src, &spec, errs);
    let files = served_files(src, &spec, errs);
    Scenario {
        file: src.file.to_path_buf(),
        spec,
        checks,
        dhcp,
        sip,
        files,
    }
}

/// The file server's paths.
fn served_files(
    src: &Source<'_>,
    spec: &ScenarioSpec,
    errs: &mut Vec<ScenarioError>,
) -> BTreeMap<String, ServedFile> {
    let dir = src.file.parent().unwrap_or(Path::new("."));
    let mut files = BTreeMap::new();
    for (path, f) in &spec.files {
        let before = errs.len();
        let mut here = |msg: String| errs.push(src.in_table("[files]", path, msg));
        // A path may name a profile's file (`fw/${profile.upgrade_script}`): its shape is
        // checked with each variable standing for a sample value.
        let plain = vars::with_sample_values(path);
        if let Err(name) = vars::check_known(path) {
            here(format!(
                "file path `{path}` uses unknown variable `${{{name}}}`; known: {}",
                vars::KNOWN.join(", ")
            ));
        } else if plain.starts_with('/') || plain.split('/').any(|p| p == "..") {
            here(format!(
                "file path `{path}` must be relative without `..` (it is the request path under the server root)"
            ));
        } else if let Err(e) = pc_http::files::normalise_path(&format!("/{plain}")) {
            here(format!("file path `{path}`: {e}"));
        }
        let served = served_file(src, dir, path, f, 0, errs);
        if errs.len() == before
            && let Some(served) = served
        {
            files.insert(path.clone(), served);
        }
    }
    files
}

/// A user-supplied image: it must exist and not be empty, and its damage must fall inside
/// it. Only its metadata is read here: the file is streamed when served.
fn image_file(
    dir: &Path,
    path: &str,
    image: &str,
    corrupt: Option<&ImageCorruption>,
    here: &mut impl FnMut(String),
) -> Option<ImageFile> {
    let p = dir.join(image);
    let len = match std::fs::metadata(&p) {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => {
            here(format!(
                "image `{}` for `{path}` is not a file",
                p.display()
            ));
            return None;
        }
        Err(e) => {
            here(format!(
                "image `{}` for `{path}` cannot be read: {e}",
                p.display()
            ));
            return None;
        }
    };
    if len == 0 {
        here(format!("image `{}` for `{path}` is empty", p.display()));
        return None;
    }
    let mut served = len;
    let mut out = ImageFile {
        path: p.clone(),
        len,
        bitflip: None,
        replace_header: None,
    };
    let Some(c) = corrupt else {
        return Some(out);
    };
    let mut ok = true;
    if let Some(n) = c.truncate {
        if n >= len {
            here(format!(
                "file `{path}`: truncate = {n} is not shorter than the image ({len} bytes)"
            ));
            ok = false;
        } else {
            served = n;
        }
    }
    if let Some(at) = c.bitflip {
        if at >= served {
            here(format!(
                "file `{path}`: bitflip = {at} is past the {served} bytes served"
            ));
            ok = false;
        }
        out.bitflip = Some(at);
    }
    if let Some(hex) = &c.replace_header {
        match parse_hex(hex) {
            Some(bytes) if !bytes.is_empty() && bytes.len() as u64 <= served => {
                out.replace_header = Some(bytes);
            }
            Some(bytes) if !bytes.is_empty() => {
                here(format!(
                    "file `{path}`: replace_header is {} bytes, longer than the {served} bytes served",
                    bytes.len()
                ));
                ok = false;
            }
            _ => {
                here(format!(
                    "file `{path}`: replace_header must be hex bytes, like \"4d 5a 90 00\""
                ));
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    out.len = served;
    Some(out)
}

/// The largest file `parts` may build: enough for every size limit a phone has (1 MiB
/// scripts), small enough that a typo in `times` cannot exhaust the harness's memory.
const MAX_PARTS_BYTES: u64 = 16 * 1024 * 1024;

/// The text of a file's `parts`, or why it cannot be built.
fn joined_parts(parts: &[TextPart]) -> Result<String, String> {
    let mut total: u64 = 0;
    for part in parts {
        let len = match part {
            TextPart::Text(t) => t.len() as u64,
            TextPart::Repeat { repeat, times } => (repeat.len() as u64).saturating_mul(*times),
        };
        total = total.saturating_add(len);
    }
    if total > MAX_PARTS_BYTES {
        return Err(format!(
            "parts make {total} bytes, over the {MAX_PARTS_BYTES}-byte limit"
        ));
    }
    let mut out = String::with_capacity(usize::try_from(total).unwrap_or(0));
    for part in parts {
        match part {
            TextPart::Text(t) => out.push_str(t),
            TextPart::Repeat { repeat, times } => {
                for _ in 0..*times {
                    out.push_str(repeat);
                }
            }
        }
    }
    Ok(out)
}

/// The longest chain of `then` answers a file may have.
const MAX_THEN: usize = 16;

/// One file's answer (and, through `then`, the answers to its later requests). `depth` is
/// how far down a `then` chain this is.
fn served_file(
    src: &Source<'_>,
    dir: &Path,
    path: &str,
    f: &FileSpec,
    depth: usize,
    errs: &mut Vec<ScenarioError>,
) -> Option<ServedFile> {
    let before = errs.len();
    let mut here = |msg: String| errs.push(src.in_table("[files]", path, msg));
    let kinds = [
        f.fixture.is_some(),
        f.text.is_some(),
        f.parts.is_some(),
        f.firmware.is_some(),
        f.lab_ca,
        f.image.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if f.corrupt.is_some() && f.image.is_none() {
        here(format!(
            "file `{path}`: corrupt goes with image (a built `firmware` takes its own `corrupt`)"
        ));
    }
    let content = match (kinds, f.status, &f.fixture, &f.text, &f.firmware) {
        (1, ..) if f.lab_ca => Some(FileContent::LabCa),
        (1, ..) if f.parts.is_some() => {
            let parts = f.parts.as_deref().unwrap_or_default();
            match joined_parts(parts) {
                Ok(text) => Some(FileContent::Text(text)),
                Err(why) => {
                    here(format!("file `{path}`: {why}"));
                    None
                }
            }
        }
        (1, _, None, None, None) => f
            .image
            .as_deref()
            .and_then(|image| image_file(dir, path, image, f.corrupt.as_ref(), &mut here))
            .map(FileContent::Image),
        (0, Some(_), ..) => Some(FileContent::StatusOnly),
        (1, _, Some(fx), _, _) => {
            let p = dir.join(fx);
            match std::fs::read(&p) {
                // Text fixtures get `${…}` substitution; anything else goes out as it is.
                Ok(bytes) => Some(match String::from_utf8(bytes) {
                    Ok(text) => FileContent::Text(text),
                    Err(e) => FileContent::Bytes(e.into_bytes()),
                }),
                Err(e) => {
                    here(format!(
                        "fixture `{}` for `{path}` cannot be read: {e}",
                        p.display()
                    ));
                    None
                }
            }
        }
        (1, _, _, Some(t), _) => Some(FileContent::Text(t.clone())),
        (1, _, _, _, Some(fw)) => {
            if fw.models.is_empty() {
                here(format!("firmware `{path}` names no models"));
            }
            for m in &fw.models {
                if let Err(name) = vars::check_known(m) {
                    here(format!(
                        "firmware `{path}`: model `{m}` uses unknown variable `${{{name}}}`; known: {}",
                        vars::KNOWN.join(", ")
                    ));
                }
            }
            if fw.hardware.is_empty() {
                here(format!(
                    "firmware `{path}` names no hardware version (`[\"*\"]` is any)"
                ));
            }
            Some(FileContent::Firmware(fw.clone()))
        }
        _ => {
            here(format!(
                "file `{path}` needs exactly one of fixture, text, parts, firmware, image or lab_ca (or only a status)"
            ));
            None
        }
    };
    if let Some(code) = f.status
        && !(100..=599).contains(&code)
    {
        here(format!("status {code} is not an HTTP status code"));
    }
    // Each way of delivering the body excludes the others.
    let mut ways: Vec<(&str, Delivery)> = Vec::new();
    if let Some(code) = f.status {
        ways.push(("status", Delivery::Status(code)));
    }
    if let Some(bytes) = f.cut_after {
        ways.push((
            "cut_after",
            Delivery::CutAfter {
                bytes,
                reset: f.reset,
            },
        ));
    }
    if let Some(declared) = f.wrong_length {
        ways.push(("wrong_length", Delivery::WrongLength(declared)));
    }
    if let Some(bytes) = f.stall_after {
        ways.push((
            "stall_after",
            Delivery::StallAfter {
                bytes,
                pause: f.pause.unwrap_or(0.0),
            },
        ));
    }
    if let Some(chunk) = f.chunked {
        if chunk == 0 {
            here(format!(
                "file `{path}`: chunked needs at least 1 byte per chunk"
            ));
        }
        ways.push(("chunked", Delivery::Chunked(chunk)));
    }
    if f.close_delimited {
        ways.push(("close_delimited", Delivery::CloseDelimited));
    }
    if let Some(d) = &f.drip {
        if d.bytes == 0 {
            here(format!(
                "file `{path}`: drip needs at least 1 byte per step"
            ));
        }
        ways.push((
            "drip",
            Delivery::Drip {
                bytes: d.bytes,
                every: d.every,
            },
        ));
    }
    if f.silence {
        ways.push(("silence", Delivery::Silence));
    }
    let delivery = match ways.as_slice() {
        [] => Some(Delivery::Serve),
        [(_, one)] => Some(*one),
        many => {
            let names: Vec<&str> = many.iter().map(|(n, _)| *n).collect();
            here(format!(
                "file `{path}` has {}: give at most one of status, cut_after, wrong_length, stall_after, chunked, close_delimited, drip, silence",
                names.join(" and ")
            ));
            None
        }
    };
    let header_text = |what: &str,
                       v: &Option<HeaderText>|
     -> Result<Option<Option<String>>, String> {
        match v {
            None => Ok(None),
            Some(HeaderText::Value(text)) => {
                if text.bytes().any(|b| b == b'\r' || b == b'\n') {
                    Err(format!("file `{path}`: {what} must be one line"))
                } else {
                    Ok(Some(Some(text.clone())))
                }
            }
            Some(HeaderText::Present(false)) => Ok(Some(None)),
            Some(HeaderText::Present(true)) => Err(format!(
                "file `{path}`: {what} = true names no value: give the value, or false to leave the header out"
            )),
        }
    };
    let mut headers = HeaderVariants {
        etag: f.etag.clone(),
        honour_range: f.range == Some(RangeMode::Honour),
        ..HeaderVariants::default()
    };
    match header_text("content_type", &f.content_type) {
        Ok(v) => headers.content_type = v,
        Err(e) => here(e),
    }
    match header_text("last_modified", &f.last_modified) {
        Ok(v) => headers.last_modified = v,
        Err(e) => here(e),
    }
    if f.etag
        .as_ref()
        .is_some_and(|e| e.bytes().any(|b| b == b'\r' || b == b'\n'))
    {
        here(format!("file `{path}`: etag must be one line"));
    }
    if f.status.is_some()
        && (f.content_type.is_some()
            || f.last_modified.is_some()
            || f.etag.is_some()
            || f.range.is_some())
    {
        here(format!(
            "file `{path}`: a status answer carries no file headers (content_type, last_modified, etag, range)"
        ));
    }
    if f.reset && f.cut_after.is_none() {
        here(format!("file `{path}`: reset goes with cut_after"));
    }
    if f.stall_after.is_some() != f.pause.is_some() {
        here(format!("file `{path}`: stall_after and pause go together"));
    }
    let every = f.drip.as_ref().map(|d| d.every);
    for (what, v) in [
        ("delay", f.delay),
        ("pause", f.pause),
        ("drip.every", every),
    ] {
        if let Some(x) = v
            && (!x.is_finite() || x < 0.0)
        {
            here(format!(
                "file `{path}`: {what} {x} is not 0 or more seconds"
            ));
        } else if let Some(x) = v
            && let Some(why) = bad_seconds(x, false)
        {
            here(format!("file `{path}`: {what} {why}"));
        }
    }
    if let Some(FileContent::Text(t)) = &content
        && let Err(name) = vars::check_known(t)
    {
        here(format!(
            "file `{path}` uses unknown variable `${{{name}}}`; known: {}",
            vars::KNOWN.join(", ")
        ));
    }
    let then = match &f.then {
        None => None,
        Some(_) if depth + 1 >= MAX_THEN => {
            here(format!(
                "file `{path}`: more than {MAX_THEN} answers chained with `then`"
            ));
            None
        }
        Some(next) => {
            let next = served_file(src, dir, path, next, depth + 1, errs);
            next.map(Box::new)
        }
    };
    if errs.len() != before {
        return None;
    }
    match (content, delivery) {
        (Some(content), Some(delivery)) => Some(ServedFile {
            content,
            delivery,
            delay: f.delay,
            headers,
            then,
        }),
        _ => None,
    }
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

fn unknown_variable(name: &str) -> String {
    format!(
        "unknown variable `${{{name}}}`; known: {}",
        vars::KNOWN.join(", ")
    )
}

/// The DHCP server's values: site option, siaddr, added options; also checks the keys that
/// are values already (sson, rules, VLANs).
fn dhcp_plan(src: &Source<'_>, spec: &ScenarioSpec, errs: &mut Vec<ScenarioError>) -> DhcpPlan {
    use super::DhcpRule;
    let d = &spec.dhcp;
    let mut dhcp = |key: &str, msg: String| errs.push(src.in_table("[dhcp]", key, msg));
    let site_option = match (&d.option242, &d.option242_hex) {
        (Some(_), Some(_)) => {
            dhcp(
                "option242_hex",
                "option242 and option242_hex exclude each other".into(),
            );
            None
        }
        (Some(text), None) => {
            if let Err(name) = vars::check_known(text) {
                dhcp("option242", unknown_variable(&name));
            }
            Some(OptionValue::Text(text.clone()))
        }
        (None, Some(h)) => match parse_hex(h) {
            Some(bytes) => Some(OptionValue::Bytes(bytes)),
            None => {
                dhcp("option242_hex", format!("`{h}` is not hex bytes"));
                None
            }
        },
        (None, None) => None,
    };
    if d.sson == 0 || d.sson == 255 {
        dhcp(
            "sson",
            format!(
                "sson {} is pad/end on the wire (RFC 2132 §3.1, §3.2)",
                d.sson
            ),
        );
    }
    let siaddr = match d.siaddr.as_deref() {
        None => None,
        Some("${server_ip}") => Some(Siaddr::Server),
        Some("${dead_ip}") => Some(Siaddr::Dead),
        Some(a) => match a.parse() {
            Ok(ip) => Some(Siaddr::Fixed(ip)),
            Err(_) => {
                dhcp(
                    "siaddr",
                    format!("siaddr `{a}` is not an IPv4 address, ${{server_ip}} or ${{dead_ip}}"),
                );
                None
            }
        },
    };
    let mut add = Vec::new();
    for o in &d.add {
        let value = match (&o.text, &o.hex) {
            (Some(t), None) => {
                if let Err(name) = vars::check_known(t) {
                    dhcp(
                        "add",
                        format!("option {}: unknown variable `${{{name}}}`", o.code),
                    );
                }
                Some(OptionValue::Text(t.clone()))
            }
            (None, Some(h)) => {
                let bytes = parse_hex(h);
                if bytes.is_none() {
                    dhcp("add", format!("option {}: `{h}` is not hex bytes", o.code));
                }
                bytes.map(OptionValue::Bytes)
            }
            _ => None,
        };
        match value {
            Some(v) if o.code != 0 && o.code != 255 => add.push((o.code, v)),
            _ => dhcp(
                "add",
                format!(
                    "option {} to add needs a code 1–254 and exactly one of text or hex",
                    o.code
                ),
            ),
        }
    }
    for r in &d.rules {
        let bad = match r {
            DhcpRule::NakRequest { nth: 0 } => Some("nak_request counts from 1".to_string()),
            DhcpRule::Delay { seconds, .. } | DhcpRule::AnswerAfter { seconds }
                if !seconds.is_finite() || *seconds < 0.0 =>
            {
                Some(format!("{seconds} is not 0 or more seconds"))
            }
            DhcpRule::Delay { seconds, .. } | DhcpRule::AnswerAfter { seconds } => {
                bad_seconds(*seconds, false).map(|why| format!("seconds {why}"))
            }
            _ => None,
        };
        if let Some(msg) = bad {
            dhcp("rules", format!("rule {r:?}: {msg}"));
        }
    }
    let mut seen = BTreeSet::new();
    for v in &d.vlan {
        if !(1..=4094).contains(&v.id) {
            errs.push(src.in_table(
                "[[dhcp.vlan]]",
                "id",
                format!("VLAN id {} is not 1–4094 (IEEE 802.1Q §9.6)", v.id),
            ));
        }
        if !seen.insert(v.id) {
            errs.push(src.in_table(
                "[[dhcp.vlan]]",
                "id",
                format!("VLAN {} is listed twice", v.id),
            ));
        }
        if let Some(t) = &v.option242
            && let Err(name) = vars::check_known(t)
        {
            errs.push(src.in_table(
                "[[dhcp.vlan]]",
                "option242",
                format!("unknown variable `${{{name}}}`"),
            ));
        }
    }
    if let Some(r) = &d.relay {
        // `[dhcp.relay]` as its own table, or `relay = { … }` inside `[dhcp]`.
        let own_table = src.text.lines().any(|l| l.trim() == "[dhcp.relay]");
        let relay_at = |key: &str, msg: String| {
            if own_table {
                src.in_table("[dhcp.relay]", key, msg)
            } else {
                src.in_table("[dhcp]", if key.is_empty() { "relay" } else { key }, msg)
            }
        };
        for (key, value) in [("circuit_id", &r.circuit_id), ("remote_id", &r.remote_id)] {
            if let Some(v) = value
                && !(1..=255).contains(&v.len())
            {
                errs.push(relay_at(
                    key,
                    format!(
                        "{key} is {} bytes; an option 82 sub-option holds 1–255 (RFC 3046 §2.0)",
                        v.len()
                    ),
                ));
            }
        }
        if !d.vlan.is_empty() {
            errs.push(relay_at(
                "",
                "a relayed phone and voice VLANs ([[dhcp.vlan]]) cannot be combined: the voice VLANs' servers sit on the phone's own link".into(),
            ));
        }
    }
    DhcpPlan {
        site_option,
        siaddr,
        add,
    }
}

/// The registrars: realm, algorithm and each controller's script.
fn sip_plan(src: &Source<'_>, spec: &ScenarioSpec, errs: &mut Vec<ScenarioError>) -> SipPlan {
    let s = &spec.sip;
    let mut sip = |key: &str, msg: String| errs.push(src.in_table("[sip]", key, msg));
    let sha256 = match s
        .algorithm
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("MD5") => false,
        Some("SHA-256") => true,
        Some(_) => {
            sip(
                "algorithm",
                format!(
                    "algorithm `{}`: MD5 or SHA-256",
                    s.algorithm.as_deref().unwrap_or("")
                ),
            );
            false
        }
    };
    if s.controller.len() + 1 > vars::MAX_CONTROLLERS {
        sip(
            "controller",
            format!("at most {} controllers", vars::MAX_CONTROLLERS),
        );
    }
    let mut problems: Vec<(&str, String)> = Vec::new();
    let mut script_of = |script: &[super::SipAnswerSpec]| -> Vec<SipAnswer> {
        let mut out = Vec::new();
        for a in script {
            match scripted_answer(a) {
                Some(answer) => out.push(answer),
                None => {
                    problems.extend(scripted_answer_errors(a).into_iter().map(|m| ("script", m)))
                }
            }
        }
        out
    };
    let first_script = script_of(&s.script);
    let more_scripts: Vec<Vec<SipAnswer>> =
        s.controller.iter().map(|c| script_of(&c.script)).collect();
    let mut transports = |list: &Option<Vec<String>>| -> bool {
        let Some(list) = list else {
            return true;
        };
        let mut tcp = false;
        for t in list {
            match t.to_ascii_lowercase().as_str() {
                "udp" => {}
                "tcp" => tcp = true,
                _ => problems.push(("transports", format!("transport `{t}`: udp or tcp"))),
            }
        }
        if !list.iter().any(|t| t.eq_ignore_ascii_case("udp")) {
            problems.push((
                "transports",
                "a controller always listens on udp (RFC 3261 §18.2.1)".into(),
            ));
        }
        tcp
    };
    let mut controllers = vec![Controller {
        script: first_script,
        down: s.down,
        tcp: transports(&s.transports),
        tls: s.tls,
    }];
    for (c, script) in s.controller.iter().zip(more_scripts) {
        controllers.push(Controller {
            script,
            down: c.down,
            tcp: transports(&c.transports),
            tls: c.tls,
        });
    }
    if controllers.iter().any(|c| c.tls.is_some() && !c.tcp) {
        problems.push((
            "tls",
            "tls shares the tcp port: a controller with tls needs tcp among its transports".into(),
        ));
    }
    for (key, msg) in problems {
        sip(key, msg);
    }
    let challenge_wrong_credentials = match s.wrong_credentials {
        None | Some(403) => false,
        Some(401) => true,
        Some(other) => {
            sip(
                "wrong_credentials",
                format!("wrong_credentials {other}: 401 or 403"),
            );
            false
        }
    };
    SipPlan {
        realm: s.realm.clone().unwrap_or_else(|| s.domain.clone()),
        sha256,
        challenge_wrong_credentials,
        controllers,
    }
}

/// A SIP token (RFC 3261 §25.1): what a header name may be.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c))
}

/// `Retry-After = delta-seconds [ comment ] *( SEMI retry-param )` (RFC 3261 §20.33),
/// checked loosely: digits first, then a comment or parameters.
fn is_retry_after(text: &str) -> bool {
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let rest = text.get(digits..).unwrap_or_default().trim_start();
    digits > 0
        && (rest.is_empty() || rest.starts_with('(') || rest.starts_with(';'))
        && !text.contains(['\r', '\n'])
}

/// The typed answer, or `None` when anything about it is wrong (then
/// [`scripted_answer_errors`] says what).
fn scripted_answer(a: &super::SipAnswerSpec) -> Option<SipAnswer> {
    if !scripted_answer_errors(a).is_empty() {
        return None;
    }
    Some(match (a.status, a.grant) {
        (Some(code), _) => {
            let mut headers = Vec::new();
            match &a.retry_after {
                Some(super::RetryAfterSpec::Seconds(n)) => {
                    headers.push(("Retry-After".to_owned(), n.to_string()));
                }
                Some(super::RetryAfterSpec::Text(t)) => {
                    headers.push(("Retry-After".to_owned(), t.clone()));
                }
                None => {}
            }
            headers.extend(a.headers.iter().map(|[n, v]| (n.clone(), v.clone())));
            SipAnswer::Status {
                code,
                reason: a
                    .reason
                    .clone()
                    .unwrap_or_else(|| pc_sip::registrar::reason_phrase(code).to_string()),
                headers,
                challenges: a
                    .challenges
                    .iter()
                    .filter_map(|c| pc_sip::Algorithm::parse(c))
                    .collect(),
                stale: a.stale,
            }
        }
        (None, Some(secs)) => SipAnswer::Grant(secs),
        (None, None) if a.silence => SipAnswer::Silence,
        (None, None) if a.close => SipAnswer::Close,
        (None, None) => SipAnswer::Normal,
    })
}

/// Everything wrong with one scripted answer, in key order.
fn scripted_answer_errors(a: &super::SipAnswerSpec) -> Vec<String> {
    let mut errs = Vec::new();
    let n = [
        a.normal,
        a.status.is_some(),
        a.silence,
        a.grant.is_some(),
        a.close,
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if n != 1 {
        errs.push(
            "each scripted answer needs exactly one of normal, grant, status, silence or close"
                .into(),
        );
        return errs;
    }
    let Some(code) = a.status else {
        if a.reason.is_some()
            || a.retry_after.is_some()
            || !a.headers.is_empty()
            || !a.challenges.is_empty()
            || a.stale
        {
            errs.push("reason, retry_after, headers, challenges and stale go with a status".into());
        }
        return errs;
    };
    if !(100..=699).contains(&code) {
        errs.push(format!("status {code} is not a SIP status code"));
    }
    if (!a.challenges.is_empty() || a.stale) && code != 401 && code != 407 {
        errs.push(format!(
            "challenges and stale go with status 401 or 407, not {code}"
        ));
    }
    for c in &a.challenges {
        if !matches!(
            pc_sip::Algorithm::parse(c),
            Some(pc_sip::Algorithm::Md5 | pc_sip::Algorithm::Sha256)
        ) {
            errs.push(format!("challenge algorithm `{c}`: MD5 or SHA-256"));
        }
    }
    if let Some(super::RetryAfterSpec::Text(t)) = &a.retry_after
        && !is_retry_after(t)
    {
        errs.push(format!(
            "retry_after `{t}` is not delta-seconds with an optional comment or parameters (RFC 3261 §20.33)"
        ));
    }
    for [name, value] in &a.headers {
        if !is_token(name) {
            errs.push(format!("header name `{name}` is not a SIP token"));
        }
        if value.contains(['\r', '\n']) {
            errs.push(format!("header `{name}` has a line break in its value"));
        }
    }
    errs
}

/// The typed form of check `i`, or `None` after pushing everything wrong with it.
fn typed_check(
    src: &Source<'_>,
    i: usize,
    c: &CheckSpec,
    checks: &[CheckSpec],
    ids: &BTreeMap<String, usize>,
    errs: &mut Vec<ScenarioError>,
) -> Option<Check> {
    let before = errs.len();
    let kind = c.kind;
    let at = |key: &str, msg: String| src.in_check(i, key, format!("check `{}`: {msg}", c.id));

    // Keys that belong to other kinds.
    let present: [(&str, bool, bool); 19] = [
        ("proto", c.proto.is_some(), kind.selects()),
        ("event", c.event.is_some(), kind.selects()),
        ("match", !c.matchers.is_empty(), kind.selects()),
        ("after", c.after.is_some(), kind.selects()),
        ("within", c.within.is_some(), kind.selects()),
        ("not_before", c.not_before.is_some(), kind.selects()),
        ("next", c.next.is_some(), kind == CheckKind::Event),
        ("exactly", c.exactly.is_some(), kind == CheckKind::Count),
        ("at_least", c.at_least.is_some(), kind == CheckKind::Count),
        ("at_most", c.at_most.is_some(), kind == CheckKind::Count),
        ("first", c.first.is_some(), kind == CheckKind::Order),
        ("then", c.then.is_some(), kind == CheckKind::Order),
        ("gap", c.gap.is_some(), kind == CheckKind::Interval),
        ("growth", c.growth.is_some(), kind == CheckKind::Interval),
        ("spread", c.spread.is_some(), kind == CheckKind::Interval),
        (
            "min_events",
            c.min_events.is_some(),
            kind == CheckKind::Interval,
        ),
        ("left", c.left.is_some(), kind == CheckKind::Compare),
        ("right", c.right.is_some(), kind == CheckKind::Compare),
        ("relation", c.relation.is_some(), kind == CheckKind::Compare),
    ];
    for (key, is_set, allowed) in present {
        if is_set && !allowed {
            errs.push(at(
                key,
                format!("`{key}` does not apply to kind `{}`", kind.as_str()),
            ));
        }
    }

    // Keys the kind needs.
    let mut need = |key: &str, ok: bool| {
        if !ok {
            errs.push(at(
                "kind",
                format!("kind `{}` needs `{key}`", kind.as_str()),
            ));
        }
    };
    if kind.selects() {
        need("proto", c.proto.is_some());
        need("event", c.event.is_some());
    }
    match kind {
        CheckKind::Count => need(
            "exactly, at_least or at_most",
            c.exactly.is_some() || c.at_least.is_some() || c.at_most.is_some(),
        ),
        CheckKind::Order => {
            need("first", c.first.is_some());
            need("then", c.then.is_some());
        }
        CheckKind::Interval => need(
            "gap, growth or spread",
            c.gap.is_some() || c.growth.is_some() || c.spread.is_some(),
        ),
        CheckKind::Compare => {
            need("left", c.left.is_some());
            need("right", c.right.is_some());
        }
        CheckKind::Event | CheckKind::Absent => {}
    }

    // References: to a check of this scenario that ends on an event.
    let refer = |key: &str, target: &str| -> Option<ScenarioError> {
        let Some(&j) = ids.get(target) else {
            return Some(at(
                key,
                format!("`{key}` names `{target}`, which is no check of this scenario"),
            ));
        };
        if target == c.id {
            return Some(at(key, format!("`{key}` cannot name the check itself")));
        }
        let k = checks[j].kind;
        (!k.anchors()).then(|| {
            at(
                key,
                format!(
                    "`{key}` names `{target}`, a check of kind `{}`, which finds no event to refer to",
                    k.as_str()
                ),
            )
        })
    };
    for (key, target) in [
        ("after", c.after.as_deref()),
        ("first", c.first.as_deref()),
        ("then", c.then.as_deref()),
        ("left", c.left.as_ref().map(|v| v.check.as_str())),
        ("right", c.right.as_ref().map(|v| v.check.as_str())),
    ] {
        if let Some(t) = target {
            errs.extend(refer(key, t));
        }
    }
    if let (Some(a), Some(b)) = (&c.first, &c.then)
        && a == b
    {
        errs.push(at("then", format!("`first` and `then` both name `{a}`")));
    }

    // Windows and numbers.
    for (key, v) in [("within", c.within), ("not_before", c.not_before)] {
        if let Some(w) = v
            && (!w.is_finite() || w < 0.0)
        {
            errs.push(at(
                key,
                format!("`{key}` must be 0 or more seconds, not {w}"),
            ));
        }
    }
    if let (Some(lo), Some(hi)) = (c.not_before, c.within)
        && lo > hi
    {
        errs.push(at(
            "not_before",
            format!("the window is empty: not_before {lo} s is after within {hi} s"),
        ));
    }
    if c.exactly.is_some() && (c.at_least.is_some() || c.at_most.is_some()) {
        errs.push(at(
            "exactly",
            "`exactly` excludes `at_least` and `at_most`".into(),
        ));
    }
    if let (Some(lo), Some(hi)) = (c.at_least, c.at_most)
        && lo > hi
    {
        errs.push(at(
            "at_least",
            format!("at_least {lo} is more than at_most {hi}"),
        ));
    }
    if let Some([lo, hi]) = c.gap {
        if !lo.is_finite() || !hi.is_finite() || lo < 0.0 {
            errs.push(at(
                "gap",
                format!("gap [{lo}, {hi}] must be 0 or more seconds"),
            ));
        } else if lo > hi {
            errs.push(at("gap", format!("gap [{lo}, {hi}] has min > max")));
        }
    }
    if let Some(g) = c.growth
        && (!g.factor.is_finite() || g.factor <= 0.0 || !(0.0..1.0).contains(&g.tolerance))
    {
        errs.push(at(
            "growth",
            format!(
                "growth needs factor > 0 and tolerance in [0, 1), not factor {} tolerance {}",
                g.factor, g.tolerance
            ),
        ));
    }
    if let Some(s) = c.spread {
        if !s.of.is_finite() || s.of <= 0.0 {
            errs.push(at(
                "spread",
                format!("spread.of must be more than 0 seconds, not {}", s.of),
            ));
        }
        if s.min_pct < 0.0 || s.min_pct > s.max_pct {
            errs.push(at(
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
        errs.push(at(
            "min_events",
            format!("min_events is {n}; gaps need at least 2 events"),
        ));
    }

    // The vocabulary: the event kind and every field path must be ones the protocol's
    // events have. With a misspelt kind, fields are held to the kind it most likely meant.
    let vocab = crate::vocab::vocabulary();
    let mut kind_for_fields = None;
    if let (Some(proto), Some(event)) = (c.proto, &c.event) {
        match vocab.check_kind(proto, event) {
            Ok(()) => kind_for_fields = Some(event.clone()),
            Err(e) => {
                kind_for_fields = e.suggestion.clone();
                errs.push(src.value_in_check(i, "event", format!("check `{}`: {e}", c.id)));
            }
        }
    }
    let mut matchers = Vec::new();
    for (field, m) in &c.matchers {
        let here = |msg: String| src.in_check(i, field, msg);
        if let (Some(proto), Some(k)) = (c.proto, &kind_for_fields)
            && let Err(e) = vocab.check_field(proto, k, field)
        {
            errs.push(here(format!("check `{}`: {e}", c.id)));
        }
        match cond_of(m) {
            Ok(cond) => matchers.push(FieldMatch {
                field: field.clone(),
                cond,
            }),
            Err(e) => errs.push(here(format!("check `{}`, field `{field}`: {e}", c.id))),
        }
    }
    let mut value_from = |key: &str, v: &super::ValueFromSpec| -> Option<ValueFrom> {
        // The field must be one the referenced check's events have.
        if let Some(target) = ids.get(&v.check).map(|&j| &checks[j])
            && let (Some(proto), Some(event)) = (target.proto, &target.event)
            && vocab.check_kind(proto, event).is_ok()
            && let Err(e) = vocab.check_field(proto, event, &v.field)
        {
            errs.push(at(key, format!("`{key}.field`: {e}")));
        }
        let regex = match &v.regex {
            None => None,
            Some(r) => match compile(r) {
                Ok(re) => Some(Pattern(re)),
                Err(e) => {
                    errs.push(at(key, format!("`{key}.regex` does not compile: {e}")));
                    return None;
                }
            },
        };
        Some(ValueFrom {
            check: v.check.clone(),
            field: v.field.clone(),
            regex,
            join: v.join.clone().unwrap_or_else(|| ".".into()),
        })
    };
    let left = c.left.as_ref().and_then(|v| value_from("left", v));
    let right = c.right.as_ref().and_then(|v| value_from("right", v));

    if errs.len() > before {
        return None;
    }
    let window = Window {
        after: c.after.clone(),
        not_before: c.not_before,
        within: c.within,
    };
    let select = || {
        Some(Select {
            proto: c.proto?,
            event: c.event.clone()?,
            matchers: matchers.clone(),
        })
    };
    let kind = match kind {
        CheckKind::Event => Kind::Event {
            select: select()?,
            window,
            next: c.next.unwrap_or(false),
        },
        CheckKind::Absent => Kind::Absent {
            select: select()?,
            window,
        },
        CheckKind::Count => Kind::Count {
            select: select()?,
            window,
            bounds: match (c.exactly, c.at_least, c.at_most) {
                (Some(n), None, None) => Bounds::Exactly(n),
                (None, Some(a), Some(b)) => Bounds::Between(a, b),
                (None, Some(a), None) => Bounds::AtLeast(a),
                (None, None, Some(b)) => Bounds::AtMost(b),
                _ => return None,
            },
        },
        CheckKind::Order => Kind::Order {
            first: c.first.clone()?,
            then: c.then.clone()?,
        },
        CheckKind::Interval => Kind::Interval {
            select: select()?,
            window,
            gap: c.gap.map(|[lo, hi]| (lo, hi)),
            growth: c.growth,
            spread: c.spread,
            min_events: c.min_events.unwrap_or(2),
        },
        CheckKind::Compare => Kind::Compare {
            left: left?,
            right: right?,
            relation: c.relation.unwrap_or_default(),
        },
    };
    Some(Check {
        id: c.id.clone(),
        title: c.title.clone(),
        requirement: c.requirement.clone(),
        level: c.level,
        location: src.in_check(i, "id", "").location,
        kind,
    })
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

/// A field condition as written → its typed form.
fn cond_of(m: &Matcher) -> Result<Cond, String> {
    let known =
        |t: &str| vars::check_known(t).map_err(|name| format!("unknown variable `${{{name}}}`"));
    let rule = match m {
        Matcher::Text(t) => {
            known(t)?;
            return Ok(Cond::Equals(t.clone()));
        }
        Matcher::Integer(n) => return Ok(Cond::Integer(*n)),
        Matcher::Bool(b) => return Ok(Cond::Bool(*b)),
        Matcher::Rule(rule) => rule,
    };
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
    if let Some(x) = &rule.equals {
        known(x)?;
        return Ok(Cond::Equals(x.clone()));
    }
    if let Some(x) = &rule.contains {
        let text = match x {
            toml::Value::String(s) => {
                known(s)?;
                s.clone()
            }
            other => other.to_string(),
        };
        return Ok(Cond::Contains(text));
    }
    if let Some(r) = &rule.regex {
        return compile(r)
            .map(|re| Cond::Regex(Pattern(re)))
            .map_err(|e| format!("regex does not compile: {e}"));
    }
    if let Some([lo, hi]) = rule.range {
        if lo > hi {
            return Err(format!("range [{lo}, {hi}] has min > max"));
        }
        return Ok(Cond::Range(lo, hi));
    }
    match rule.present {
        Some(p) => Ok(Cond::Present(p)),
        None => {
            Err("a matcher needs exactly one of equals, contains, regex, range, present".into())
        }
    }
}

fn check_acyclic(
    src: &Source<'_>,
    checks: &[CheckSpec],
    ids: &BTreeMap<String, usize>,
    errs: &mut Vec<ScenarioError>,
) {
    for (i, c) in checks.iter().enumerate() {
        let mut seen = BTreeSet::new();
        let mut cur = c.after.as_ref();
        while let Some(next) = cur {
            if !seen.insert(next.clone()) || next == &c.id {
                errs.push(src.in_check(
                    i,
                    "after",
                    format!("check `{}`: `after` references form a cycle", c.id),
                ));
                break;
            }
            cur = ids.get(next).and_then(|&j| checks[j].after.as_ref());
        }
    }
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
/// recursively for `*.toml` files (skipping `expectations/`, `profiles/` and `fixtures/`).
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
            if name != "expectations" && name != "fixtures" && name != "profiles" {
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

    fn load(text: &str) -> Result<Scenario, ScenarioErrors> {
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
    fn a_relay_table_loads_and_bad_agent_ids_point_at_their_line() {
        let relayed = GOOD.replace(
            "[sip]",
            "[dhcp.relay]\ncircuit_id = \"Gi1/0/7\"\nremote_id = \"sw-floor3\"\n\n[sip]",
        );
        let s = load(&relayed).unwrap();
        let r = s.spec.dhcp.relay.unwrap();
        assert_eq!(r.circuit_id.as_deref(), Some("Gi1/0/7"));
        assert_eq!(r.remote_id.as_deref(), Some("sw-floor3"));
        assert_eq!(
            err(&relayed.replace("\"Gi1/0/7\"", "\"\"")),
            "scenario error at s/x.toml:17:1: circuit_id is 0 bytes; an option 82 sub-option holds 1–255 (RFC 3046 §2.0)"
        );
        let long = format!("\"{}\"", "r".repeat(256));
        assert_eq!(
            err(&relayed.replace("\"sw-floor3\"", &long)),
            "scenario error at s/x.toml:18:1: remote_id is 256 bytes; an option 82 sub-option holds 1–255 (RFC 3046 §2.0)"
        );
        // Inline in [dhcp], an empty table: a relay without option 82.
        let inline = GOOD.replace(
            "option242 = \"HTTPSRVR=${server_ip}\"",
            "option242 = \"HTTPSRVR=${server_ip}\"\nrelay = {}",
        );
        assert_eq!(
            load(&inline).unwrap().spec.dhcp.relay,
            Some(Default::default())
        );
        assert_eq!(
            err(&inline.replace("relay = {}", "relay = { circuit_id = \"\" }")),
            "scenario error at s/x.toml:15:11: circuit_id is 0 bytes; an option 82 sub-option holds 1–255 (RFC 3046 §2.0)"
        );
        let with_vlan = relayed.replace("[sip]", "[[dhcp.vlan]]\nid = 20\n\n[sip]");
        assert!(
            err(&with_vlan).contains("cannot be combined"),
            "{}",
            err(&with_vlan)
        );
        assert!(err(&relayed.replace("remote_id", "remote")).contains("unknown field `remote`"),);
    }

    #[test]
    fn a_good_file_loads() {
        let s = load(GOOD).unwrap();
        assert_eq!(s.checks.len(), 2);
        assert_eq!(s.checks[1].location.line, 33);
    }

    #[test]
    fn unknown_key_points_at_its_line_and_column() {
        let text = GOOD.replace("[run]\ntimeout = 10", "[run]\ntimeout = 10\n  colour = 3");
        let e = load(&text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "scenario error at s/x.toml:22:3: unknown field `colour`, expected one of `timeout`, `lab`, `until`, `settle`, `power_cycle`\n   |\n22 |   colour = 3\n   |   ^"
        );
    }

    /// A finite time too long for a `Duration` used to load and then panic the harness.
    #[test]
    fn times_beyond_thirty_days_are_refused_naming_their_key() {
        assert_eq!(
            err(&GOOD.replace("timeout = 10", "timeout = 1e20")),
            "scenario error at s/x.toml:21:1: run.timeout must be at most 2592000 seconds (30 days), not 100000000000000000000"
        );
        assert_eq!(
            err(&GOOD.replace("timeout = 10", "timeout = 10\nsettle = 2592001")),
            "scenario error at s/x.toml:22:1: run.settle must be at most 2592000 seconds (30 days), not 2592001"
        );
        assert_eq!(
            err(&GOOD.replace(
                "[run]",
                "[files]\n\"a.cfg\" = { text = \"x\", delay = 1e20 }\n\n[run]"
            )),
            "scenario error at s/x.toml:21:1: file `a.cfg`: delay must be at most 2592000 seconds (30 days), not 100000000000000000000"
        );
        assert_eq!(
            err(&GOOD.replace(
                "option242 = \"HTTPSRVR=${server_ip}\"",
                "option242 = \"HTTPSRVR=${server_ip}\"\nrules = [{ action = \"answer_after\", seconds = 1e7 }]"
            )),
            "scenario error at s/x.toml:15:1: rule AnswerAfter { seconds: 10000000.0 }: seconds must be at most 2592000 seconds (30 days), not 10000000"
        );
        // The bound itself is a time.
        assert!(load(&GOOD.replace("timeout = 10", "timeout = 2592000")).is_ok());
    }

    #[test]
    fn every_unknown_key_of_a_file_is_named_in_one_pass() {
        // Three unknown keys in three tables (one inline in an array), then a check that
        // names an unknown dependency: all four come at once, in file order.
        let text = GOOD
            .replace("[run]\ntimeout = 10", "[run]\ntimeout = 10\nsetle = 1")
            .replace(
                "option242 = \"HTTPSRVR=${server_ip}\"",
                "option242 = \"HTTPSRVR=${server_ip}\"\nlease_tme = 60",
            )
            .replace("after = \"A\"", "after = \"Z\"\nwitin = 3");
        let e = load(&text).unwrap_err();
        let lines: Vec<&str> = e.0.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(e.0.len(), 4, "{e}");
        assert!(
            lines[0].starts_with("unknown field `lease_tme`"),
            "{lines:?}"
        );
        assert!(
            lines[0].ends_with("did you mean `lease_time`?"),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("unknown field `setle`"), "{lines:?}");
        assert!(lines[1].ends_with("did you mean `settle`?"), "{lines:?}");
        assert!(lines[2].contains("`Z`"), "{lines:?}");
        assert!(lines[3].starts_with("unknown field `witin`"), "{lines:?}");
        assert!(lines[3].ends_with("did you mean `within`?"), "{lines:?}");
        let at: Vec<(usize, usize)> =
            e.0.iter()
                .map(|e| (e.location.line, e.location.col))
                .collect();
        assert_eq!(at[0], (15, 1), "{at:?}");
        assert_eq!(at[1], (23, 1), "{at:?}");
        assert_eq!(at[3].0, 42, "{at:?}");
        // A value of the wrong type after an unknown key still stops the reading, after
        // naming the unknown key.
        let text = GOOD
            .replace("[run]\ntimeout = 10", "[run]\ntimeout = \"ten\"")
            .replace("after = \"A\"", "after = \"A\"\nwitin = 3");
        let e = load(&text).unwrap_err();
        assert_eq!(e.0.len(), 2, "{e}");
    }

    #[test]
    fn a_near_miss_among_two_known_keys_gets_its_suggestion_too() {
        let e = err(&GOOD.replace(
            "accounts = [{ user = \"2001\", password = \"1234\" }]",
            "accounts = [{ user = \"2001\", password = \"1234\", pasword = \"x\" }]",
        ));
        assert!(
            e.ends_with(
                "unknown field `pasword`, expected `user` or `password`; did you mean `password`?"
            ),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_in_a_check() {
        assert_eq!(
            err(&GOOD.replace("after = \"A\"", "after = \"A\"\nbefore = \"A\"")),
            "scenario error at s/x.toml:40:1: unknown field `before`, expected one of `id`, `title`, `requirement`, `level`, `kind`, `proto`, `event`, `match`, `after`, `within`, `not_before`, `next`, `exactly`, `at_least`, `at_most`, `first`, `then`, `gap`, `growth`, `spread`, `min_events`, `left`, `right`, `relation`"
        );
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        assert_eq!(
            err(&GOOD.replace("timeout = 10", "timeout = \"ten\"")),
            "scenario error at s/x.toml:21:11: invalid type: string \"ten\", expected a number"
        );
    }

    #[test]
    fn a_misspelt_key_or_kind_gets_a_suggestion() {
        let e = err(&GOOD.replace("after = \"A\"", "aftr = \"A\""));
        assert!(
            e.ends_with("`right`, `relation`; did you mean `after`?"),
            "{e}"
        );
        assert!(e.starts_with("scenario error at s/x.toml:"), "{e}");
        assert_eq!(
            err(&GOOD.replace(
                "kind = \"event\"\nproto = \"http\"",
                "kind = \"evnt\"\nproto = \"http\""
            )),
            "scenario error at s/x.toml:36:8: unknown variant `evnt`, expected one of `event`, `absent`, `count`, `order`, `interval`, `compare`; did you mean `event`?"
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
                "kind = \"absent\"\nproto = \"sip\"\nevent = \"request\"\nnext = true"
            )),
            "scenario error at s/x.toml:48:1: check `C`: `next` does not apply to kind `absent`"
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
                "kind = \"compare\"\nleft = { check = \"A\", field = \"xid\" }\nright = { check = \"N\", field = \"path\" }"
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
                "{ xid = { range = [5, 1] } }"
            )),
            "scenario error at s/x.toml:30:11: check `A`, field `xid`: range [5, 1] has min > max"
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
                "kind = \"compare\"\nleft = { check = \"A\", field = \"xid\", regex = \"[\" }\nright = { check = \"B\", field = \"path\" }"
            )),
            "scenario error at s/x.toml:46:1: check `C`: `left.regex` does not compile: error: unclosed character class"
        );
    }

    #[test]
    fn file_paths_may_use_lab_variables_but_not_unknown_ones() {
        let with_files = |files: &str| GOOD.replace("[sip]", &format!("[files]\n{files}\n\n[sip]"));
        let ok = load(&with_files(
            "\"${phone_mac_hex}/46xxsettings.txt\" = { text = \"SET GROUP 1\" }",
        ))
        .unwrap();
        assert!(ok.files.contains_key("${phone_mac_hex}/46xxsettings.txt"));
        assert_eq!(
            err(&with_files(
                "\"${phone_mac_hx}/46xxsettings.txt\" = { text = \"x\" }"
            )),
            "scenario error at s/x.toml:17:1: file path `${phone_mac_hx}/46xxsettings.txt` uses unknown variable `${phone_mac_hx}`; known: server_ip, dead_ip, http_port, https_port, sip_port, sip_port_2, sip_port_3, sip_port_4, phone_mac, phone_mac_hex, sip_domain, profile.upgrade_script, profile.http_user_agent, profile.sip_user_agent, profile.model, profile.image_models, profile.other_image_models, profile.app_prefix, profile.http_user_agent_at_start"
        );
        let ca = load(&with_files("\"lab-ca.pem\" = { lab_ca = true }")).unwrap();
        assert_eq!(ca.files["lab-ca.pem"].content, FileContent::LabCa);
        assert_eq!(
            err(&with_files(
                "\"lab-ca.pem\" = { lab_ca = true, text = \"x\" }"
            )),
            "scenario error at s/x.toml:17:1: file `lab-ca.pem` needs exactly one of fixture, text, parts, firmware, image or lab_ca (or only a status)"
        );
    }

    #[test]
    fn an_unknown_variable() {
        assert_eq!(
            err(&GOOD.replace("${server_ip}", "${nope}")),
            "scenario error at s/x.toml:14:1: unknown variable `${nope}`; known: server_ip, dead_ip, http_port, https_port, sip_port, sip_port_2, sip_port_3, sip_port_4, phone_mac, phone_mac_hex, sip_domain, profile.upgrade_script, profile.http_user_agent, profile.sip_user_agent, profile.model, profile.image_models, profile.other_image_models, profile.app_prefix, profile.http_user_agent_at_start"
        );
    }

    #[test]
    fn the_phone_is_named_through_the_profile_and_only_the_profile() {
        let ok = GOOD
            .replace("model = \"9620\"", "model = \"${profile.model}\"")
            .replace(
                "firmware = \"S96x0_SALBR2_6_0_0.bin\"",
                "firmware = \"${profile.app_prefix}2_6_0_0.bin\"",
            );
        let sc = load(&ok).unwrap();
        assert_eq!(sc.spec.phone.model, "${profile.model}");
        assert_eq!(
            err(&GOOD.replace("model = \"9620\"", "model = \"${server_ip}\"")),
            "scenario error at s/x.toml:7:1: phone.model may use only the profile's variables, not `${server_ip}`"
        );
        let e = err(&GOOD.replace(
            "firmware = \"S96x0_SALBR2_6_0_0.bin\"",
            "firmware = \"${profile.app}2_6_0_0.bin\"",
        ));
        assert!(
            e.starts_with("scenario error at s/x.toml:8:1: phone.firmware uses unknown variable `${profile.app}`; known: profile.upgrade_script,"),
            "{e}"
        );
        // An image's models may be the profile's too, and nothing unknown.
        let e = err(&(GOOD.to_string()
            + "\n[files]\n\"a.bin\" = { firmware = { version = \"1\", models = [\"${profile.family}\"] } }\n"));
        assert!(
            e.contains("firmware `a.bin`: model `${profile.family}` uses unknown variable `${profile.family}`"),
            "{e}"
        );
        assert!(
            load(&(GOOD.to_string()
                + "\n[files]\n\"a.bin\" = { firmware = { version = \"1\", models = [\"${profile.image_models}\"] } }\n"))
            .is_ok()
        );
    }

    #[test]
    fn profiles_and_profile_variables() {
        // A profile's file name in a [files] path and a check; the shipped profiles only.
        let ok = GOOD.replacen("[phone]", "profiles = [\"avaya-96x1-sip\"]\n[phone]", 1)
            + "\n[files]\n\"fw/${profile.upgrade_script}\" = { text = \"x\" }\n";
        let sc = load_str(Path::new("s/x.toml"), &ok).unwrap();
        assert_eq!(sc.spec.profiles, ["avaya-96x1-sip"]);
        assert!(sc.files.contains_key("fw/${profile.upgrade_script}"));
        let e = err(&GOOD.replacen("[phone]", "profiles = [\"polycom\"]\n[phone]", 1));
        assert!(
            e.contains("unknown profile `polycom`; known: avaya-96x0-sip, avaya-96x1-sip"),
            "{e}"
        );
        let e = err(&(GOOD.to_string() + "\n[files]\n\"fw/${profile.nope}\" = { text = \"x\" }\n"));
        assert!(e.contains("uses unknown variable `${profile.nope}`"), "{e}");
    }

    #[test]
    fn a_hardware_version_is_four_letters_or_digits() {
        let with = |h: &str| GOOD.replacen("[dhcp]", &format!("hardware = \"{h}\"\n\n[dhcp]"), 1);
        let ok = load_str(Path::new("s/x.toml"), &with("D02A")).unwrap();
        assert_eq!(ok.spec.phone.hardware.as_deref(), Some("D02A"));
        assert_eq!(
            err(&with("D0-A")),
            "scenario error at s/x.toml:13:1: `D0-A` is not a hardware version of four letters or digits like D01A"
        );
    }

    #[test]
    fn fixtures_that_are_not_text_load_as_bytes_and_parts_build_text() {
        let dir = std::env::temp_dir().join(format!("phonecert-load-bytes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bin.txt"), b"\x1f\x8b\0\xffSET X 1\n").unwrap();
        std::fs::write(dir.join("text.txt"), "SET SIPDOMAIN ${sip_domain}\n").unwrap();
        let files = "[files]\n\"a.txt\" = { fixture = \"bin.txt\" }\n\"b.txt\" = { fixture = \"text.txt\" }\n\"c.txt\" = { parts = [\"SET A \", { repeat = \"xy\", times = 3 }, \"\\n\"] }\n\n[sip]";
        let sc = load_str(&dir.join("x.toml"), &GOOD.replace("[sip]", files)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            sc.files["a.txt"].content,
            FileContent::Bytes(b"\x1f\x8b\0\xffSET X 1\n".to_vec())
        );
        assert_eq!(
            sc.files["b.txt"].content,
            FileContent::Text("SET SIPDOMAIN ${sip_domain}\n".into())
        );
        assert_eq!(
            sc.files["c.txt"].content,
            FileContent::Text("SET A xyxyxy\n".into())
        );
        let huge = GOOD.replace(
            "[sip]",
            "[files]\n\"h.txt\" = { parts = [{ repeat = \"x\", times = 99999999999 }] }\n\n[sip]",
        );
        assert_eq!(
            err(&huge),
            "scenario error at s/x.toml:17:1: file `h.txt`: parts make 99999999999 bytes, over the 16777216-byte limit"
        );
        let two = GOOD.replace(
            "[sip]",
            "[files]\n\"t.txt\" = { text = \"a\", parts = [\"b\"] }\n\n[sip]",
        );
        assert!(err(&two).contains("needs exactly one of fixture, text, parts"));
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
            "scenario error at s/x.toml:15:9: `HELLO` is no DHCP message type; one of DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM or UNKNOWN(n)"
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
            "scenario error at s/x.toml:19:1: each scripted answer needs exactly one of normal, grant, status, silence or close"
        );
        assert_eq!(
            sip("script = [{ retry_after = 5, normal = true }]"),
            "scenario error at s/x.toml:19:1: reason, retry_after, headers, challenges and stale go with a status"
        );
        assert_eq!(
            sip("algorithm = \"SHA-1\""),
            "scenario error at s/x.toml:19:1: algorithm `SHA-1`: MD5 or SHA-256"
        );
        assert_eq!(
            sip("script = [{ status = 503, challenges = [\"MD5\"] }]"),
            "scenario error at s/x.toml:19:1: challenges and stale go with status 401 or 407, not 503"
        );
        assert_eq!(
            sip("script = [{ status = 401, challenges = [\"SHA-512\"] }]"),
            "scenario error at s/x.toml:19:1: challenge algorithm `SHA-512`: MD5 or SHA-256"
        );
        assert_eq!(
            sip("script = [{ status = 503, retry_after = \"soon\" }]"),
            "scenario error at s/x.toml:19:1: retry_after `soon` is not delta-seconds with an optional comment or parameters (RFC 3261 §20.33)"
        );
        assert_eq!(
            sip("script = [{ status = 423, headers = [[\"Min Expires\", \"3600\"]] }]"),
            "scenario error at s/x.toml:19:1: header name `Min Expires` is not a SIP token"
        );
        assert_eq!(
            sip("script = [{ close = true, stale = true }]"),
            "scenario error at s/x.toml:19:1: reason, retry_after, headers, challenges and stale go with a status"
        );
        assert_eq!(
            sip("transports = [\"tcp\", \"sctp\"]"),
            "scenario error at s/x.toml:19:1: transport `sctp`: udp or tcp"
        );
        assert_eq!(
            sip("transports = [\"udp\"]\ntls = { cert = \"expired\" }"),
            "scenario error at s/x.toml:20:1: tls shares the tcp port: a controller with tls needs tcp among its transports"
        );
        assert_eq!(
            sip("wrong_credentials = 404"),
            "scenario error at s/x.toml:19:1: wrong_credentials 404: 401 or 403"
        );
        let file = |spec: &str| {
            err(&GOOD.replace(
                "[sip]",
                &format!("[files]\n\"fw/a.txt\" = {{ {spec} }}\n\n[sip]"),
            ))
        };
        // User-supplied images: missing, empty or damaged past their end, at load.
        let dir = std::env::temp_dir().join(format!("phonecert-load-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.bin");
        std::fs::write(&empty, b"").unwrap();
        let small = dir.join("small.bin");
        std::fs::write(&small, [0u8; 10]).unwrap();
        let missing = dir.join("missing.bin");
        let image = |p: &Path, extra: &str| file(&format!("image = \"{}\"{extra}", p.display()));
        assert_eq!(
            image(&missing, ""),
            format!(
                "scenario error at s/x.toml:17:1: image `{}` for `fw/a.txt` cannot be read: No such file or directory (os error 2)",
                missing.display()
            )
        );
        assert_eq!(
            image(&empty, ""),
            format!(
                "scenario error at s/x.toml:17:1: image `{}` for `fw/a.txt` is empty",
                empty.display()
            )
        );
        assert_eq!(
            image(&dir, ""),
            format!(
                "scenario error at s/x.toml:17:1: image `{}` for `fw/a.txt` is not a file",
                dir.display()
            )
        );
        assert_eq!(
            image(&small, ", corrupt = { truncate = 10 }"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: truncate = 10 is not shorter than the image (10 bytes)"
        );
        assert_eq!(
            image(&small, ", corrupt = { truncate = 4, bitflip = 4 }"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: bitflip = 4 is past the 4 bytes served"
        );
        assert_eq!(
            image(&small, ", corrupt = { replace_header = \"zz\" }"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: replace_header must be hex bytes, like \"4d 5a 90 00\""
        );
        assert_eq!(
            image(
                &small,
                ", corrupt = { replace_header = \"00 01 02 03 04 05 06 07 08 09 0a\" }"
            ),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: replace_header is 11 bytes, longer than the 10 bytes served"
        );
        assert_eq!(
            file("text = \"a\", corrupt = { bitflip = 1 }"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: corrupt goes with image (a built `firmware` takes its own `corrupt`)"
        );
        // A 2 GiB image (sparse here) loads from its metadata alone.
        let big = dir.join("big.bin");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(2 << 30)
            .unwrap();
        let started = std::time::Instant::now();
        let sc = load(&GOOD.replace(
            "[sip]",
            &format!(
                "[files]\n\"fw/a.bin\" = {{ image = \"{}\", corrupt = {{ bitflip = 2147483000 }} }}\n\n[sip]",
                big.display()
            ),
        ))
        .unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let FileContent::Image(img) = &sc.files["fw/a.bin"].content else {
            panic!("an image");
        };
        assert_eq!((img.len, img.bitflip), (2 << 30, Some(2_147_483_000)));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            file("text = \"a\", status = 404, cut_after = 3"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt` has status and cut_after: give at most one of status, cut_after, wrong_length, stall_after, chunked, close_delimited, drip, silence"
        );
        assert_eq!(
            file("text = \"a\", stall_after = 3"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: stall_after and pause go together"
        );
        assert_eq!(
            file("text = \"a\", silence = true, chunked = 4"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt` has chunked and silence: give at most one of status, cut_after, wrong_length, stall_after, chunked, close_delimited, drip, silence"
        );
        assert_eq!(
            file("text = \"a\", drip = { bytes = 0, every = 1 }"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: drip needs at least 1 byte per step"
        );
        assert_eq!(
            file("text = \"a\", drip = { bytes = 10, every = -1 }"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: drip.every -1 is not 0 or more seconds"
        );
        assert_eq!(
            file("status = 404, then = { text = \"a\", drip = { bytes = 0, every = 1 } }"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: drip needs at least 1 byte per step"
        );
        let deep = (0..20).fold("text = \"a\"".to_string(), |inner, _| {
            format!("status = 500, then = {{ {inner} }}")
        });
        assert_eq!(
            file(&deep),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: more than 16 answers chained with `then`"
        );
        assert_eq!(
            file("text = \"a\", chunked = 0"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: chunked needs at least 1 byte per chunk"
        );
        assert_eq!(
            file("text = \"a\", content_type = true"),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: content_type = true names no value: give the value, or false to leave the header out"
        );
        assert_eq!(
            file("text = \"a\", etag = \"a\\r\\nX: y\""),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: etag must be one line"
        );
        assert_eq!(
            file("status = 404, etag = \"x\""),
            "scenario error at s/x.toml:17:1: file `fw/a.txt`: a status answer carries no file headers (content_type, last_modified, etag, range)"
        );
        assert_eq!(
            file("text = \"a\", range = \"sometimes\""),
            "scenario error at s/x.toml:17:36: unknown variant `sometimes`, expected `ignore` or `honour`"
        );
        assert_eq!(
            file("firmware = { version = \"1\", models = [\"96x0\"], corrupt = \"burnt\" }"),
            "scenario error at s/x.toml:17:73: unknown variant `burnt`, expected one of `flip_byte`, `truncate`, `bad_signature`, `untrusted_signer`"
        );
    }

    /// Every error line of a load, without the snippets.
    fn all_errors(text: &str) -> Vec<String> {
        load(text)
            .unwrap_err()
            .0
            .iter()
            .map(|e| format!("scenario error at {}: {}", e.location, e.message))
            .collect()
    }

    #[test]
    fn a_misspelt_event_kind_and_field_are_named_with_a_suggestion() {
        let text = GOOD.replace(
            "event = \"request\"\nafter = \"A\"",
            "event = \"requst\"\nafter = \"A\"\nmatch = { mehtod = \"GET\" }",
        );
        assert_eq!(
            all_errors(&text),
            [
                "scenario error at s/x.toml:38:9: check `B`: http has no event `requst` (its events: closed, fault, request, response, tls_handshake); did you mean `request`?",
                "scenario error at s/x.toml:40:11: check `B`: http request events have no field `mehtod`; did you mean `method`?",
            ]
        );
        // The snippet points at the value.
        let shown = load(&text).unwrap_err().to_string();
        assert!(
            shown.contains("38 | event = \"requst\"\n   |         ^"),
            "{shown}"
        );
    }

    #[test]
    fn fields_are_held_to_their_protocol_and_kind() {
        assert_eq!(
            err(&GOOD.replace("{ msg_type = \"DISCOVER\" }", "{ path = \"/x\" }")),
            "scenario error at s/x.toml:30:11: check `A`: dhcp received events have no field `path`"
        );
        assert_eq!(
            err(&GOOD.replace("{ msg_type = \"DISCOVER\" }", "{ \"options.code\" = 1 }")),
            "scenario error at s/x.toml:30:11: check `A`: `options` is a list: name an element by its index (`options.0`), not `code`"
        );
        assert_eq!(
            err(&with_check(
                "kind = \"compare\"\nleft = { check = \"A\", field = \"xdi\" }\nright = { check = \"B\", field = \"path\" }"
            )),
            "scenario error at s/x.toml:46:1: check `C`: `left.field`: dhcp received events have no field `xdi`; did you mean `xid`?"
        );
        // header.NAME reads the headers an HTTP request carries …
        assert!(
            load(&GOOD.replace(
                "after = \"A\"",
                "after = \"A\"\nmatch = { \"header.Host\" = \"x\" }"
            ))
            .is_ok()
        );
        // … and DHCP messages have none.
        assert_eq!(
            err(&GOOD.replace("{ msg_type = \"DISCOVER\" }", "{ \"header.Host\" = \"x\" }")),
            "scenario error at s/x.toml:30:11: check `A`: dhcp received events carry no headers to read `header.Host` from"
        );
    }

    #[test]
    fn a_power_cycle_names_a_check_and_a_time() {
        let ok = GOOD.replace(
            "timeout = 10",
            "timeout = 10\npower_cycle = { after = \"A\" }",
        );
        let s = load(&ok).unwrap();
        let cycle = s.spec.run.power_cycle.unwrap();
        assert_eq!((cycle.after.as_str(), cycle.off), ("A", 2.0));
        let bad = GOOD.replace(
            "timeout = 10",
            "timeout = 10\npower_cycle = { after = \"Q\", off = -1 }",
        );
        assert_eq!(
            all_errors(&bad),
            [
                "scenario error at s/x.toml:22:1: run.power_cycle.after names `Q`, which is no check of this scenario",
                "scenario error at s/x.toml:22:1: run.power_cycle.off must be 0 or more seconds",
            ]
        );
    }

    #[test]
    fn every_error_of_a_file_comes_at_once_in_file_order() {
        let text = GOOD
            .replace("mac = \"00:1b:4f:27:31:2a\"", "mac = \"nope\"")
            .replace("after = \"A\"", "after = \"Z\"\nwithin = -2")
            .replace("timeout = 10", "timeout = 10\nuntil = \"Q\"")
            + "\n[[check]]\nid = \"A\"\ntitle = \"a\"\nrequirement = \"r\"\nkind = \"absent\"\nproto = \"sip\"\nevent = \"reqest\"\n";
        assert_eq!(
            all_errors(&text),
            [
                "scenario error at s/x.toml:9:1: `nope` is not a MAC address like 00:1b:4f:27:31:2a",
                "scenario error at s/x.toml:22:1: run.until names `Q`, which is no check of this scenario",
                "scenario error at s/x.toml:40:1: check `B`: `after` names `Z`, which is no check of this scenario",
                "scenario error at s/x.toml:41:1: check `B`: `within` must be 0 or more seconds, not -2",
                "scenario error at s/x.toml:44:1: check id `A` is used twice",
                "scenario error at s/x.toml:49:9: check `A`: sip has no event `reqest` (its events: closed, malformed, peer_response, request, response, silence, tls_handshake); did you mean `request`?",
            ]
        );
    }

    #[test]
    fn infrastructure_is_parsed_into_values() {
        let text = GOOD
            .replace(
                "option242 = \"HTTPSRVR=${server_ip}\"",
                "option242_hex = \"48 54\"\nsiaddr = \"${dead_ip}\"\nadd = [{ code = 66, text = \"${server_ip}\" }]",
            )
            .replace(
                "accounts = [{ user = \"2001\", password = \"1234\" }]",
                "accounts = [{ user = \"2001\", password = \"1234\" }]\nalgorithm = \"sha-256\"\nscript = [{ status = 503, retry_after = 30 }, { grant = 60 }, { silence = true }, { normal = true }, { status = 403, reason = \"No\" }]\n\n[[sip.controller]]\ndown = true",
            );
        let s = load(&text).unwrap();
        assert_eq!(s.dhcp.site_option, Some(OptionValue::Bytes(b"HT".to_vec())));
        assert_eq!(s.dhcp.siaddr, Some(Siaddr::Dead));
        assert_eq!(
            s.dhcp.add,
            vec![(66, OptionValue::Text("${server_ip}".into()))]
        );
        assert!(s.sip.sha256);
        assert_eq!(s.sip.realm, "lab.test");
        assert_eq!(
            s.sip.controllers[0].script,
            vec![
                SipAnswer::Status {
                    code: 503,
                    reason: "Service Unavailable".into(),
                    headers: vec![("Retry-After".into(), "30".into())],
                    challenges: Vec::new(),
                    stale: false,
                },
                SipAnswer::Grant(60),
                SipAnswer::Silence,
                SipAnswer::Normal,
                SipAnswer::Status {
                    code: 403,
                    reason: "No".into(),
                    headers: Vec::new(),
                    challenges: Vec::new(),
                    stale: false,
                },
            ]
        );
        assert!(s.sip.controllers[1].down);
        assert!(s.sip.controllers[0].tcp && s.sip.controllers[1].tcp);
    }

    #[test]
    fn scripted_answers_carry_headers_challenges_and_closes() {
        let s = load(&GOOD.replace(
            "accounts = [{ user = \"2001\", password = \"1234\" }]",
            "accounts = [{ user = \"2001\", password = \"1234\" }]\nwrong_credentials = 401\ntransports = [\"udp\"]\nscript = [{ status = 423, headers = [[\"Min-Expires\", \"3600\"]] }, { status = 503, retry_after = \"300 (maintenance)\" }, { status = 401, challenges = [\"SHA-256\", \"md5\"], stale = true }, { close = true }]",
        ))
        .unwrap();
        assert!(s.sip.challenge_wrong_credentials);
        assert!(!s.sip.controllers[0].tcp);
        assert_eq!(s.sip.controllers[0].tls, None);
        let tls = load(&GOOD.replace(
            "accounts = [{ user = \"2001\", password = \"1234\" }]",
            "accounts = [{ user = \"2001\", password = \"1234\" }]\ntls = { cert = \"wrong_name\", key = \"ecdsa_p256\" }",
        ))
        .unwrap();
        assert_eq!(
            tls.sip.controllers[0].tls,
            Some(pc_pki::ServerCertSpec {
                cert: pc_pki::CertChoice::WrongName,
                key: pc_pki::KeyKind::EcdsaP256,
            })
        );
        assert_eq!(
            s.sip.controllers[0].script,
            vec![
                SipAnswer::Status {
                    code: 423,
                    reason: "Interval Too Brief".into(),
                    headers: vec![("Min-Expires".into(), "3600".into())],
                    challenges: Vec::new(),
                    stale: false,
                },
                SipAnswer::Status {
                    code: 503,
                    reason: "Service Unavailable".into(),
                    headers: vec![("Retry-After".into(), "300 (maintenance)".into())],
                    challenges: Vec::new(),
                    stale: false,
                },
                SipAnswer::Status {
                    code: 401,
                    reason: "Unauthorized".into(),
                    headers: Vec::new(),
                    challenges: vec![pc_sip::Algorithm::Sha256, pc_sip::Algorithm::Md5],
                    stale: true,
                },
                SipAnswer::Close,
            ]
        );
    }

    #[test]
    fn checks_are_typed_with_their_location() {
        let s = load(&with_check(
            "kind = \"count\"\nproto = \"sip\"\nevent = \"request\"\nat_least = 1\nat_most = 3\nwithin = 5\nmatch = { method = { regex = \"^REG\" } }",
        ))
        .unwrap();
        let c = &s.checks[2];
        assert_eq!(c.location.to_string(), "s/x.toml:42:1");
        match &c.kind {
            Kind::Count {
                select,
                window,
                bounds,
            } => {
                assert_eq!(select.proto, crate::timeline::Proto::Sip);
                assert_eq!(select.event, "request");
                assert_eq!(select.matchers.len(), 1);
                assert!(matches!(&select.matchers[0].cond, Cond::Regex(r) if r.as_str() == "^REG"));
                assert_eq!(window.within, Some(5.0));
                assert_eq!(*bounds, Bounds::Between(1, 3));
            }
            other => panic!("{other:?}"),
        }
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
