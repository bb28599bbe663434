//! The upgrade-script / settings-file language (`96xxupgrade.txt`, `46xxsettings.txt`) and a
//! sans-IO interpreter for it.
//!
//! Owns: parsing text into statements with 1-based line numbers and findings, and executing
//! them against [`Settings`] and the phone's read-only variables, one `GET` at a time.
//!
//! Never does: fetch files. [`Interpreter::next`] returns [`Step::Get`] and the caller (the
//! reference phone, or `phonecert script eval` reading from disk) fetches the file and hands
//! the result back with [`Interpreter::fetched`]. No clock, no I/O.
//!
//! Follows domain.md "Script language". Decisions where the sources are silent:
//! - A line is a statement only if it starts, in column 1, with `SET `, `GET `, `IF `, `GOTO `
//!   (any case) or `# `. Anything else is a comment; a comment that *looks* like a statement
//!   (indented, keyword followed by a tab, `GOTO` alone) gets a finding so `phonecert lint`
//!   can point at it, but is still a comment.
//! - An unquoted `SET` value ends at the first space; more text is reported and ignored.
//!   A quoted value runs to the next `"`. `SET NAME` with no value is malformed (ignored);
//!   `SET NAME ""` resets NAME to its default.
//! - Labels and `GOTO` targets compare case-insensitively, like keywords. The first label of
//!   a name wins; a `GOTO` searches the whole current file, so backward jumps work (and the
//!   loop guard stops endless ones).
//! - `$VAR` resolution: the read-only phone variables (an empty one counts as unknown); then
//!   `APPNAME` — the value a `SET` gave it, else the running application's name; then any
//!   known settings name (empty when it has no value). Anything else is unknown and makes the
//!   `IF` a no-op.
//! - The loop guard counts executed statements across all files of one run (a settings file
//!   that GETs itself is a loop too).
//! - Bytes from a server ([`parse_bytes`]): a UTF-8 byte order mark at the start is dropped
//!   with a finding (editors on Windows save one; left in, it would turn line 1 into a
//!   comment). A file over [`MAX_FILE_BYTES`] or with a NUL byte is refused whole — no
//!   statement of it runs, so the phone keeps its old values — with a finding on the line
//!   where it went wrong. Invalid UTF-8 is read lossily, with a finding per line. A line over
//!   [`MAX_LINE_BYTES`] is ignored with a finding (no statement of the language needs more
//!   than a few hundred bytes: names ≤ 30, values ≤ 255).
//! - What a phone reads differently from what its author meant is a finding, the line still
//!   read as a phone reads it: curly quotes on a statement line (ordinary characters, so a
//!   “quoted” value keeps them), a `SET` whose value went on to the next line (both lines
//!   are then nothing), `# SET …` (a label named SET, not a commented-out statement), and
//!   statements no path reaches (after a `GOTO`, before the next label any jump leads to).
//!   Each finding has a [`Severity`]: an error when a phone ignores or misreads the line, a
//!   warning when it does what is written but the file is likely not what was meant.
//! - Statements after a `GET` are no finding: they run only when that `GET` fails, which is
//!   how a fallback is written (`GET 46xxsettings.txt`, then `GOTO END` or another `GET`),
//!   and whether it fails depends on the server, not on the file. `phonecert script eval`,
//!   given the files, tells which way a phone goes.

use std::fmt;

use crate::settings::{Rejected, Settings, Source};

/// One statement of the language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `SET NAME value`.
    Set { name: String, value: String },
    /// `GET file`.
    Get { file: String },
    /// `IF $VAR SEQ value GOTO label` (`var` without the `$`).
    If {
        var: String,
        value: String,
        label: String,
    },
    /// `GOTO label`.
    Goto { label: String },
    /// `# label`.
    Label { name: String },
}

fn quote_if_needed(s: &str) -> String {
    if s.is_empty() || s.chars().any(char::is_whitespace) {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Set { name, value } => write!(f, "SET {name} {}", quote_if_needed(value)),
            Statement::Get { file } => write!(f, "GET {file}"),
            Statement::If { var, value, label } => {
                write!(f, "IF ${var} SEQ {} GOTO {label}", quote_if_needed(value))
            }
            Statement::Goto { label } => write!(f, "GOTO {label}"),
            Statement::Label { name } => write!(f, "# {name}"),
        }
    }
}

/// A statement and the line it was on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the file.
    pub number: usize,
    pub statement: Statement,
}

/// A parsed file: its statements (comments dropped) and findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The file name, for traces and messages.
    pub file: String,
    pub lines: Vec<Line>,
    /// Malformed or suspicious lines: 1-based line number and what.
    pub findings: Vec<(usize, FindingKind)>,
}

impl Script {
    /// What `phonecert lint` reports: the parse findings plus every `SET` a phone would
    /// refuse on its own (unknown or read-only name, invalid or over-long value), judged
    /// against the profile defaults, and every `IF` on a variable no phone has. Sorted by
    /// line.
    pub fn lint(&self) -> Vec<(usize, Issue)> {
        let mut out: Vec<(usize, Issue)> = self
            .findings
            .iter()
            .map(|(n, kind)| (*n, Issue::Parse(kind.clone())))
            .collect();
        for line in &self.lines {
            match &line.statement {
                Statement::Set { name, value } => {
                    if let Err(why) = Settings::new().set(name, value, Source::SettingsFile) {
                        out.push((
                            line.number,
                            Issue::Refused {
                                name: name.clone(),
                                value: value.clone(),
                                why,
                            },
                        ));
                    }
                }
                Statement::If { var, .. } if !is_variable(var) => {
                    out.push((line.number, Issue::UnknownVariable { var: var.clone() }));
                }
                _ => {}
            }
        }
        out.sort_by_key(|(n, _)| *n);
        out
    }

    /// Index in `lines` of the first label named `label` (case-insensitive).
    fn find_label(&self, label: &str) -> Option<usize> {
        self.lines.iter().position(
            |l| matches!(&l.statement, Statement::Label { name } if name.eq_ignore_ascii_case(label)),
        )
    }
}

/// How much a finding matters to whoever wrote the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Harmless to a phone today, but a sign the file is not what its author thinks
    /// (statements that never run, a label written twice).
    Warning,
    /// A phone ignores or misreads a line its author meant it to act on.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// What is wrong with a line of a script or settings file, found while parsing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FindingKind {
    #[error(
        "UTF-8 byte order mark at the start of the file: dropped (a phone that keeps it reads line 1 as a comment)"
    )]
    ByteOrderMark,
    #[error(
        "file is {bytes} bytes, over the {MAX_FILE_BYTES}-byte limit from this line on: the whole file is ignored"
    )]
    FileTooLarge { bytes: usize },
    #[error("binary data (a NUL byte at offset {offset}): the whole file is ignored")]
    Binary { offset: usize },
    #[error("invalid UTF-8: read with replacement characters")]
    InvalidUtf8,
    #[error("line of {bytes} bytes, over the {MAX_LINE_BYTES}-byte limit: ignored")]
    LineTooLong { bytes: usize },
    #[error("indented {keyword} is a comment, not a statement")]
    IndentedKeyword { keyword: String },
    #[error("{keyword} without a following space is a comment, not a statement")]
    KeywordWithoutSpace { keyword: String },
    #[error("indented '# ' label is a comment, not a label")]
    IndentedLabel,
    /// A line that starts like a statement but does not have its form; the text says why.
    #[error("{0}")]
    Malformed(String),
    #[error("text after {what} ignored: {ignored:?}")]
    ExtraText { what: &'static str, ignored: String },
    #[error("no label {label:?} in this file: the jump ends the file")]
    MissingLabel { label: String },
    #[error("duplicate label {label:?}: jumps go to the first one")]
    DuplicateLabel { label: String },
    #[error(
        "curly quote {quote:?} is an ordinary character to a phone, not a quote: it becomes part of the word (use a straight \")"
    )]
    CurlyQuote { quote: char },
    #[error(
        "SET {name} is split over two lines: line {next} is a comment to a phone, so this SET is ignored"
    )]
    SplitSet { name: String, next: usize },
    #[error(
        "'# {keyword} …' is a label named {keyword}, not a commented-out statement (comment lines start with ##)"
    )]
    LabelShadowsStatement { keyword: String },
    #[error(
        "never runs (through line {last}): the statement before it jumps away and no jump leads here"
    )]
    Unreachable { last: usize },
}

impl FindingKind {
    /// [`Severity::Warning`] for what a phone does as written but is likely a slip;
    /// [`Severity::Error`] for everything a phone ignores or misreads.
    pub fn severity(&self) -> Severity {
        match self {
            FindingKind::DuplicateLabel { .. }
            | FindingKind::Unreachable { .. }
            | FindingKind::InvalidUtf8 => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// A stable identifier, for `--format json`.
    pub fn code(&self) -> &'static str {
        match self {
            FindingKind::ByteOrderMark => "byte-order-mark",
            FindingKind::FileTooLarge { .. } => "file-too-large",
            FindingKind::Binary { .. } => "binary",
            FindingKind::InvalidUtf8 => "invalid-utf8",
            FindingKind::LineTooLong { .. } => "line-too-long",
            FindingKind::IndentedKeyword { .. } => "indented-statement",
            FindingKind::KeywordWithoutSpace { .. } => "keyword-without-space",
            FindingKind::IndentedLabel => "indented-label",
            FindingKind::Malformed(_) => "malformed",
            FindingKind::ExtraText { .. } => "extra-text",
            FindingKind::MissingLabel { .. } => "missing-label",
            FindingKind::DuplicateLabel { .. } => "duplicate-label",
            FindingKind::CurlyQuote { .. } => "curly-quote",
            FindingKind::SplitSet { .. } => "split-set",
            FindingKind::LabelShadowsStatement { .. } => "label-shadows-statement",
            FindingKind::Unreachable { .. } => "unreachable",
        }
    }
}

/// One thing `phonecert lint` reports about a line: a parse finding, or a `SET` a phone
/// would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    Parse(FindingKind),
    Refused {
        name: String,
        value: String,
        why: Rejected,
    },
    /// `IF $VAR` on a name that is neither a phone variable nor a parameter: the `IF`
    /// never jumps.
    UnknownVariable {
        var: String,
    },
}

/// Whether `IF $name` can ever jump: a read-only phone variable, APPNAME, or a known
/// parameter (see the interpreter's lookup).
fn is_variable(name: &str) -> bool {
    crate::settings::READ_ONLY_NAMES
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
        || name.eq_ignore_ascii_case("APPNAME")
        || Settings::is_known(name)
}

impl Issue {
    /// Every refused `SET` is an error: the phone keeps its old value.
    pub fn severity(&self) -> Severity {
        match self {
            Issue::Parse(kind) => kind.severity(),
            Issue::Refused { .. } | Issue::UnknownVariable { .. } => Severity::Error,
        }
    }

    /// A stable identifier, for `--format json`.
    pub fn code(&self) -> &'static str {
        match self {
            Issue::Parse(kind) => kind.code(),
            Issue::Refused { why, .. } => rejected_code(why),
            Issue::UnknownVariable { .. } => "unknown-variable",
        }
    }
}

/// A stable identifier of why a value was refused, for `--format json`.
pub fn rejected_code(why: &Rejected) -> &'static str {
    match why {
        Rejected::UnknownName(_) => "unknown-name",
        Rejected::NameTooLong => "name-too-long",
        Rejected::ValueTooLong => "value-too-long",
        Rejected::InvalidValue { .. } => "invalid-value",
        Rejected::LowerPrecedence { .. } => "lower-precedence",
        Rejected::NotSettableFrom { .. } => "not-settable-here",
        Rejected::ReadOnly(_) => "read-only",
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Issue::Parse(kind) => write!(f, "{kind}"),
            Issue::Refused { name, why, .. } => write!(f, "SET {name} would be ignored: {why}"),
            Issue::UnknownVariable { var } => write!(
                f,
                "${var} is neither a phone variable nor a parameter: this IF never jumps"
            ),
        }
    }
}

const KEYWORDS: [&str; 4] = ["SET", "GET", "IF", "GOTO"];

/// Largest script or settings file read; a bigger one is refused whole.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Longest line read; a longer one is ignored.
pub const MAX_LINE_BYTES: usize = 4096;
/// The UTF-8 byte order mark.
const BOM: char = '\u{feff}';
/// Typographic quotes a word processor puts where the author typed `"` or `'`.
const CURLY_QUOTES: [char; 8] = [
    '\u{201c}', '\u{201d}', '\u{201e}', '\u{201f}', '\u{2018}', '\u{2019}', '\u{201a}', '\u{201b}',
];

/// Parse a file as it came from a server (bytes): see the module header for what is refused.
/// Never panics.
pub fn parse_bytes(file: &str, bytes: &[u8]) -> Script {
    let refused = |line: usize, kind: FindingKind| Script {
        file: file.to_string(),
        lines: Vec::new(),
        findings: vec![(line, kind)],
    };
    if bytes.len() > MAX_FILE_BYTES {
        let line = 1 + bytes[..MAX_FILE_BYTES]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        return refused(line, FindingKind::FileTooLarge { bytes: bytes.len() });
    }
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        let line = 1 + bytes[..at].iter().filter(|b| **b == b'\n').count();
        return refused(line, FindingKind::Binary { offset: at });
    }
    let mut bad_utf8 = Vec::new();
    let mut text = String::with_capacity(bytes.len());
    for (idx, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        if idx > 0 {
            text.push('\n');
        }
        match std::str::from_utf8(raw) {
            Ok(s) => text.push_str(s),
            Err(_) => {
                bad_utf8.push((idx + 1, FindingKind::InvalidUtf8));
                text.push_str(&String::from_utf8_lossy(raw));
            }
        }
    }
    let mut script = parse(file, &text);
    script.findings.extend(bad_utf8);
    script.findings.sort_by_key(|(n, _)| *n);
    script
}

/// Parse `text` (LF or CRLF line ends) from file `file`. Never panics.
pub fn parse(file: &str, text: &str) -> Script {
    let mut script = Script {
        file: file.to_string(),
        lines: Vec::new(),
        findings: Vec::new(),
    };
    let text = match text.strip_prefix(BOM) {
        Some(rest) => {
            script.findings.push((1, FindingKind::ByteOrderMark));
            rest
        }
        None => text,
    };
    let raw_lines: Vec<&str> = text
        .split('\n')
        .map(|raw| raw.strip_suffix('\r').unwrap_or(raw))
        .collect();
    for (idx, line) in raw_lines.iter().enumerate() {
        let number = idx + 1;
        if line.len() > MAX_LINE_BYTES {
            script
                .findings
                .push((number, FindingKind::LineTooLong { bytes: line.len() }));
            continue;
        }
        match classify(line) {
            Classified::Comment => {}
            Classified::LooksLikeStatement(kind) => script.findings.push((number, kind)),
            Classified::Statement(keyword, rest) => {
                if let Some(quote) = line.chars().find(|c| CURLY_QUOTES.contains(c)) {
                    script
                        .findings
                        .push((number, FindingKind::CurlyQuote { quote }));
                }
                match parse_statement(keyword, rest) {
                    Ok((statement, notes)) => {
                        script
                            .findings
                            .extend(notes.into_iter().map(|n| (number, n)));
                        script.lines.push(Line { number, statement });
                    }
                    Err(why) => {
                        let next = raw_lines.get(idx + 1).copied().unwrap_or("");
                        let kind = match keyword {
                            Keyword::Set => split_set(rest, next, number + 1),
                            _ => None,
                        }
                        .unwrap_or(FindingKind::Malformed(why));
                        script.findings.push((number, kind));
                    }
                }
            }
        }
    }
    check_labels(&mut script);
    check_reachable(&mut script);
    script
}

/// A `SET` that failed to parse because its value went on to the next line: the SET has a
/// name and no value (or an unclosed quote), and the next line is text that is no statement
/// and no `#` line.
fn split_set(rest: &str, next: &str, next_number: usize) -> Option<FindingKind> {
    let mut words = rest.split_whitespace();
    let name = words.next()?;
    let no_value = words.next().is_none();
    let open_quote = rest.matches('"').count() % 2 == 1;
    let continues = !next.trim().is_empty()
        && !next.trim_start().starts_with('#')
        && matches!(classify(next), Classified::Comment);
    ((no_value || open_quote) && continues).then(|| FindingKind::SplitSet {
        name: name.to_string(),
        next: next_number,
    })
}

enum Classified<'a> {
    Comment,
    LooksLikeStatement(FindingKind),
    Statement(Keyword, &'a str),
}

#[derive(Debug, Clone, Copy)]
enum Keyword {
    Set,
    Get,
    If,
    Goto,
    Label,
}

fn classify(line: &str) -> Classified<'_> {
    if let Some(rest) = line.strip_prefix("# ") {
        return Classified::Statement(Keyword::Label, rest);
    }
    for (kw, keyword) in
        KEYWORDS
            .iter()
            .zip([Keyword::Set, Keyword::Get, Keyword::If, Keyword::Goto])
    {
        let n = kw.len();
        if line.len() > n
            && line.is_char_boundary(n)
            && line[..n].eq_ignore_ascii_case(kw)
            && line.as_bytes()[n] == b' '
        {
            return Classified::Statement(keyword, &line[n + 1..]);
        }
    }
    // Not a statement. Say so when it looks like one the author meant.
    let first = line.split_whitespace().next().unwrap_or("");
    if KEYWORDS.iter().any(|k| first.eq_ignore_ascii_case(k)) {
        let keyword = first.to_ascii_uppercase();
        return Classified::LooksLikeStatement(if line.starts_with(char::is_whitespace) {
            FindingKind::IndentedKeyword { keyword }
        } else {
            FindingKind::KeywordWithoutSpace { keyword }
        });
    }
    let trimmed = line.trim_start();
    if trimmed.starts_with("# ") && line.starts_with(char::is_whitespace) {
        return Classified::LooksLikeStatement(FindingKind::IndentedLabel);
    }
    Classified::Comment
}

/// A word of a statement: text and whether it was double-quoted.
struct Token {
    text: String,
    quoted: bool,
}

/// Split on spaces/tabs; a token starting with `"` runs to the next `"`.
fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('"') {
            let close = inner
                .find('"')
                .ok_or_else(|| "unterminated double quote".to_string())?;
            out.push(Token {
                text: inner[..close].to_string(),
                quoted: true,
            });
            rest = &inner[close + 1..];
            if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
                return Err("text directly after a closing quote".into());
            }
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push(Token {
                text: rest[..end].to_string(),
                quoted: false,
            });
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    Ok(out)
}

/// Parse the text after a keyword: the statement plus notes (ignored extra text).
fn parse_statement(keyword: Keyword, rest: &str) -> Result<(Statement, Vec<FindingKind>), String> {
    let tokens = tokenize(rest)?;
    let mut notes = Vec::new();
    let mut extra = |used: usize, what: &'static str| {
        if tokens.len() > used {
            let ignored: Vec<&str> = tokens[used..].iter().map(|t| t.text.as_str()).collect();
            notes.push(FindingKind::ExtraText {
                what,
                ignored: ignored.join(" "),
            });
        }
    };
    let statement = match keyword {
        Keyword::Set => {
            let name = tokens.first().ok_or("SET without a name")?;
            if name.quoted {
                return Err("SET name must not be quoted".into());
            }
            let value = tokens.get(1).ok_or_else(|| {
                format!("SET {} without a value (use \"\" to reset it)", name.text)
            })?;
            extra(2, "the value (quote values that contain spaces)");
            Statement::Set {
                name: name.text.clone(),
                value: value.text.clone(),
            }
        }
        Keyword::Get => {
            let file = tokens.first().ok_or("GET without a file name")?;
            if file.text.is_empty() {
                return Err("GET with an empty file name".into());
            }
            extra(1, "the file name");
            Statement::Get {
                file: file.text.clone(),
            }
        }
        Keyword::Goto => {
            let label = tokens.first().ok_or("GOTO without a label")?;
            if label.text.is_empty() {
                return Err("GOTO with an empty label".into());
            }
            extra(1, "the label");
            Statement::Goto {
                label: label.text.clone(),
            }
        }
        Keyword::Label => {
            let name = tokens.first().ok_or("'# ' without a label name")?;
            if name.text.is_empty() {
                return Err("empty label name".into());
            }
            if let Some(kw) = KEYWORDS
                .iter()
                .find(|k| !name.quoted && name.text.eq_ignore_ascii_case(k))
            {
                // `# SET NAME value`: meant as a commented-out statement, read as a label.
                notes.push(FindingKind::LabelShadowsStatement {
                    keyword: kw.to_string(),
                });
            } else {
                extra(1, "the label name (use '##' for comments)");
            }
            Statement::Label {
                name: name.text.clone(),
            }
        }
        Keyword::If => {
            let [var, op, value, goto, label] = tokens.as_slice() else {
                return Err(format!(
                    "IF needs the form `IF $VAR SEQ value GOTO label`, got {} word(s)",
                    tokens.len()
                ));
            };
            let name = var
                .text
                .strip_prefix('$')
                .filter(|n| !n.is_empty() && !var.quoted)
                .ok_or_else(|| format!("IF variable {:?} must start with '$'", var.text))?;
            if op.quoted || !op.text.eq_ignore_ascii_case("SEQ") {
                return Err(format!(
                    "unknown IF operator {:?} (only SEQ exists)",
                    op.text
                ));
            }
            if goto.quoted || !goto.text.eq_ignore_ascii_case("GOTO") {
                return Err(format!(
                    "expected GOTO after the value, got {:?}",
                    goto.text
                ));
            }
            if label.text.is_empty() {
                return Err("IF with an empty label".into());
            }
            Statement::If {
                var: name.to_string(),
                value: value.text.clone(),
                label: label.text.clone(),
            }
        }
    };
    Ok((statement, notes))
}

/// Findings for jumps to labels the file does not have, and duplicate labels.
fn check_labels(script: &mut Script) {
    let mut notes = Vec::new();
    for (i, line) in script.lines.iter().enumerate() {
        match &line.statement {
            Statement::Goto { label } | Statement::If { label, .. } => {
                if script.find_label(label).is_none() {
                    notes.push((
                        line.number,
                        FindingKind::MissingLabel {
                            label: label.clone(),
                        },
                    ));
                }
            }
            Statement::Label { name } => {
                if script.find_label(name) != Some(i) {
                    notes.push((
                        line.number,
                        FindingKind::DuplicateLabel {
                            label: name.clone(),
                        },
                    ));
                }
            }
            Statement::Set { .. } | Statement::Get { .. } => {}
        }
    }
    script.findings.extend(notes);
    script.findings.sort_by_key(|(n, _)| *n);
}

/// Statements no path through the file reaches, one finding per run of them. A path starts
/// at the first statement, falls through every statement but `GOTO`, and follows every jump
/// to a label that exists (an `IF` both falls through and jumps; a `GET` falls through,
/// since a failed fetch continues). Labels themselves are not reported.
fn check_reachable(script: &mut Script) {
    let n = script.lines.len();
    let mut reached = vec![false; n];
    let mut todo = vec![0];
    while let Some(i) = todo.pop() {
        if i >= n || reached[i] {
            continue;
        }
        reached[i] = true;
        match &script.lines[i].statement {
            Statement::Goto { label } => todo.extend(script.find_label(label)),
            Statement::If { label, .. } => {
                todo.extend(script.find_label(label));
                todo.push(i + 1);
            }
            Statement::Set { .. } | Statement::Get { .. } | Statement::Label { .. } => {
                todo.push(i + 1)
            }
        }
    }
    let mut notes = Vec::new();
    let mut run: Option<(usize, usize)> = None;
    for (i, line) in script.lines.iter().enumerate() {
        let dead = !reached[i] && !matches!(line.statement, Statement::Label { .. });
        if dead {
            run = Some(match run {
                Some((first, _)) => (first, line.number),
                None => (line.number, line.number),
            });
        } else if !reached[i] {
            // An unreached label neither ends nor breaks a run.
        } else if let Some((first, last)) = run.take() {
            notes.push((first, FindingKind::Unreachable { last }));
        }
    }
    if let Some((first, last)) = run {
        notes.push((first, FindingKind::Unreachable { last }));
    }
    script.findings.extend(notes);
    script.findings.sort_by_key(|(n, _)| *n);
}

/// The phone's read-only variables a script can test. Empty fields count as unknown, so an
/// `IF` on them is a no-op. SIG and other settings are read from [`Settings`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneVars {
    /// `9620`, `9608` …
    pub model4: String,
    /// `9620D01A` …
    pub model: String,
    /// GROUP, 0–999, as text.
    pub group: String,
    /// MAC address as the phone prints it.
    pub macaddr: String,
    /// The boot code's name.
    pub bootname: String,
    /// The hardware version.
    pub hwvers: String,
    /// The running application's name; `$APPNAME` until a `SET APPNAME` changes it.
    pub appname: String,
    /// Signalling protocol in use: 1 H.323, 2 SIP, as text.
    pub sig_in_use: String,
    /// `1` if the phone can verify SHA-2 signed files.
    pub sha2capable: String,
    /// `1` if a VPN tunnel is up.
    pub vpnactive: String,
}

impl PhoneVars {
    /// The value of a read-only variable (any case), if this phone has it.
    fn get(&self, name: &str) -> Option<&str> {
        let v = match name.to_ascii_uppercase().as_str() {
            "MODEL4" => &self.model4,
            "MODEL" => &self.model,
            "GROUP" => &self.group,
            "MACADDR" => &self.macaddr,
            "BOOTNAME" => &self.bootname,
            "HWVERS" => &self.hwvers,
            "SIG_IN_USE" => &self.sig_in_use,
            "SHA2CAPABLE" => &self.sha2capable,
            "VPNACTIVE" => &self.vpnactive,
            _ => return None,
        };
        Some(v.as_str()).filter(|v| !v.is_empty())
    }
}

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Fetch `file` from the same server and directory, then call
    /// [`Interpreter::fetched`]. `from_line` is the GET's line in the current file.
    Get { file: String, from_line: usize },
    /// The run is over (end of file, a jump to a missing label, or the loop guard).
    Done,
}

/// What executing one statement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The value was accepted.
    Set { name: String, value: String },
    /// The value was refused; the old one stays.
    Rejected {
        name: String,
        value: String,
        why: Rejected,
    },
    /// A GET was handed to the caller.
    Fetch { file: String },
    /// The GET succeeded: the fetched file runs, the rest of this one never does.
    Fetched { file: String },
    /// The GET failed: execution continues after it.
    FetchFailed { file: String },
    /// `IF` matched.
    BranchTaken { value: String, label: String },
    /// `IF` did not match.
    BranchNotTaken { value: String },
    /// `IF` on a variable the phone does not have: no-op.
    UnknownVariable { var: String },
    /// `GOTO` or a taken `IF` found its label.
    Jump { label: String },
    /// The label does not exist: the file ends here.
    MissingLabel { label: String },
    /// The last line of the file was executed.
    EndOfFile,
    /// Too many statements executed: stopped.
    LoopGuard { executed: usize },
    /// `fetched` was called with no GET pending: ignored.
    UnexpectedFetchResult,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::Set { name, value } => write!(f, "set {name}={value}"),
            Effect::Rejected { name, value, why } => write!(f, "rejected {name}={value}: {why}"),
            Effect::Fetch { file } => write!(f, "fetch {file}"),
            Effect::Fetched { file } => write!(f, "fetched {file}: continuing there, not here"),
            Effect::FetchFailed { file } => write!(f, "fetch of {file} failed: continuing"),
            Effect::BranchTaken { value, label } => {
                write!(f, "branch taken (value {value:?}) to {label}")
            }
            Effect::BranchNotTaken { value } => write!(f, "branch not taken (value {value:?})"),
            Effect::UnknownVariable { var } => write!(f, "unknown variable ${var}: no-op"),
            Effect::Jump { label } => write!(f, "jump to {label}"),
            Effect::MissingLabel { label } => write!(f, "no label {label}: end of file"),
            Effect::EndOfFile => write!(f, "end of file"),
            Effect::LoopGuard { executed } => {
                write!(f, "stopped after {executed} statements (loop guard)")
            }
            Effect::UnexpectedFetchResult => write!(f, "fetch result with no GET pending: ignored"),
        }
    }
}

/// One executed step, for `phonecert script eval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    pub file: String,
    /// 1-based line (for end-of-file: the number of lines in the file).
    pub line: usize,
    /// The statement executed, if the entry belongs to one.
    pub statement: Option<Statement>,
    pub effect: Effect,
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(s) = &self.statement {
            write!(f, "{s} → ")?;
        }
        write!(f, "{}", self.effect)
    }
}

/// Default loop guard: statements executed per run before the interpreter gives up.
pub const DEFAULT_STATEMENT_LIMIT: usize = 10_000;

/// The sans-IO interpreter. Feed it a script with [`start`](Self::start), call
/// [`next`](Self::next) until [`Step::Done`], answering each [`Step::Get`] with
/// [`fetched`](Self::fetched).
#[derive(Debug, Clone)]
pub struct Interpreter {
    vars: PhoneVars,
    current: Option<Script>,
    /// Index into `current.lines` of the next statement.
    pc: usize,
    /// The GET waiting for `fetched`: file and line.
    pending: Option<(String, usize)>,
    executed: usize,
    limit: usize,
    done: bool,
    trace: Vec<TraceEntry>,
}

impl Interpreter {
    pub fn new(vars: PhoneVars) -> Self {
        Interpreter {
            vars,
            current: None,
            pc: 0,
            pending: None,
            executed: 0,
            limit: DEFAULT_STATEMENT_LIMIT,
            done: true,
            trace: Vec::new(),
        }
    }

    /// Change the loop guard (statements per run).
    pub fn with_statement_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Begin a run with `script` (the upgrade script). Resets the loop guard; keeps the trace.
    pub fn start(&mut self, script: Script) {
        self.current = Some(script);
        self.pc = 0;
        self.pending = None;
        self.executed = 0;
        self.done = false;
    }

    /// Everything executed so far.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// The phone variables this interpreter tests.
    pub fn vars(&self) -> &PhoneVars {
        &self.vars
    }

    /// Change a phone variable between two steps (a phone whose GROUP is entered while the
    /// run waits on a GET; the reference phone's fault switches).
    pub fn vars_mut(&mut self) -> &mut PhoneVars {
        &mut self.vars
    }

    /// Run until the next GET or the end, applying SETs to `settings` as
    /// [`Source::SettingsFile`]. A GET left unanswered counts as failed.
    pub fn next(&mut self, settings: &mut Settings) -> Step {
        if self.pending.is_some() {
            self.fetched(None);
        }
        while !self.done {
            let Some(script) = self.current.as_ref() else {
                self.done = true;
                break;
            };
            let file = script.file.clone();
            let Some(line) = script.lines.get(self.pc).cloned() else {
                let last = script.lines.last().map_or(0, |l| l.number);
                self.record(&file, last, None, Effect::EndOfFile);
                self.done = true;
                break;
            };
            if let Statement::Label { .. } = line.statement {
                // Passing a label does nothing; it is not an executed statement.
                self.pc += 1;
                continue;
            }
            if self.executed >= self.limit {
                let executed = self.executed;
                self.record(&file, line.number, None, Effect::LoopGuard { executed });
                self.done = true;
                break;
            }
            self.executed += 1;
            self.pc += 1;
            let effect = match &line.statement {
                Statement::Label { .. } => continue,
                Statement::Set { name, value } => {
                    match settings.set(name, value, Source::SettingsFile) {
                        Ok(()) => Effect::Set {
                            name: name.to_ascii_uppercase(),
                            value: value.clone(),
                        },
                        Err(why) => Effect::Rejected {
                            name: name.clone(),
                            value: value.clone(),
                            why,
                        },
                    }
                }
                Statement::Get { file: target } => {
                    self.pending = Some((target.clone(), line.number));
                    self.record(
                        &file,
                        line.number,
                        Some(line.statement.clone()),
                        Effect::Fetch {
                            file: target.clone(),
                        },
                    );
                    return Step::Get {
                        file: target.clone(),
                        from_line: line.number,
                    };
                }
                Statement::Goto { label } => self.jump(label),
                Statement::If { var, value, label } => match self.lookup(var, settings) {
                    None => Effect::UnknownVariable { var: var.clone() },
                    Some(actual) if actual.eq_ignore_ascii_case(value) => {
                        let jumped = self.jump(label);
                        self.record(
                            &file,
                            line.number,
                            Some(line.statement.clone()),
                            Effect::BranchTaken {
                                value: actual,
                                label: label.clone(),
                            },
                        );
                        if let Effect::MissingLabel { .. } = jumped {
                            self.record(&file, line.number, None, jumped);
                        }
                        continue;
                    }
                    Some(actual) => Effect::BranchNotTaken { value: actual },
                },
            };
            self.record(&file, line.number, Some(line.statement.clone()), effect);
        }
        Step::Done
    }

    /// The result of the last [`Step::Get`]: `Some(script)` runs that script instead of the
    /// rest of the current file; `None` continues after the GET.
    pub fn fetched(&mut self, result: Option<Script>) {
        let cur_file = self
            .current
            .as_ref()
            .map(|s| s.file.clone())
            .unwrap_or_default();
        let Some((target, line)) = self.pending.take() else {
            self.record(&cur_file, 0, None, Effect::UnexpectedFetchResult);
            return;
        };
        let statement = Some(Statement::Get {
            file: target.clone(),
        });
        match result {
            Some(script) => {
                self.record(&cur_file, line, statement, Effect::Fetched { file: target });
                self.current = Some(script);
                self.pc = 0;
            }
            None => self.record(
                &cur_file,
                line,
                statement,
                Effect::FetchFailed { file: target },
            ),
        }
    }

    /// Run to the end, answering GETs with `fetch` (file name → parsed script, or `None` when
    /// the file cannot be had). For `phonecert script eval` and tests.
    pub fn run(&mut self, settings: &mut Settings, mut fetch: impl FnMut(&str) -> Option<Script>) {
        while let Step::Get { file, .. } = self.next(settings) {
            let result = fetch(&file);
            self.fetched(result);
        }
    }

    /// Move to the label; on a missing label the file (and the run) ends.
    fn jump(&mut self, label: &str) -> Effect {
        match self.current.as_ref().and_then(|s| s.find_label(label)) {
            Some(i) => {
                self.pc = i + 1;
                Effect::Jump {
                    label: label.to_string(),
                }
            }
            None => {
                self.done = true;
                Effect::MissingLabel {
                    label: label.to_string(),
                }
            }
        }
    }

    fn lookup(&self, var: &str, settings: &Settings) -> Option<String> {
        if let Some(v) = self.vars.get(var) {
            return Some(v.to_string());
        }
        if var.eq_ignore_ascii_case("APPNAME") {
            return Some(
                settings
                    .get("APPNAME")
                    .unwrap_or(self.vars.appname.as_str())
                    .to_string(),
            );
        }
        if Settings::is_known(var) {
            return Some(settings.get(var).unwrap_or("").to_string());
        }
        None
    }

    fn record(&mut self, file: &str, line: usize, statement: Option<Statement>, effect: Effect) {
        self.trace.push(TraceEntry {
            file: file.to_string(),
            line,
            statement,
            effect,
        });
    }
}

#[cfg(test)]
mod tests;
