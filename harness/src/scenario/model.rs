//! The typed scenario: what loading makes of a file, and all the engine and judge read.
//!
//! Owns: one [`Kind`] variant per check kind carrying only that kind's fields, each
//! [`Check`] with its [`Location`]; field conditions with their regexes compiled
//! ([`Cond`]); the servers' setup parsed into values ([`OptionValue`], [`Siaddr`],
//! [`SipAnswer`], [`ServedFile`]).
//!
//! Never: reads files or TOML (the loader does), knows lab addresses or the time scale (the
//! lowering module does). A value that exists here is valid: the loader built it only after
//! every check on it passed.
//!
//! Model: sqllogictest-rs records — a small closed set of kinds, each keeping its place in
//! the file.

use std::net::Ipv4Addr;

use std::path::PathBuf;

use super::{FirmwareSpec, Growth, Level, Location, Relation, Spread};
use crate::timeline::Proto;

/// One check, as the judge takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Unique id within the scenario, e.g. `BOOT-001-03`.
    pub id: String,
    /// What is checked, in a few words.
    pub title: String,
    /// The requirement it tests.
    pub requirement: String,
    /// must / should.
    pub level: Level,
    /// Where its `[[check]]` header is.
    pub location: Location,
    /// What it judges.
    pub kind: Kind,
}

/// What a check judges, with exactly the fields its kind has.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A matching event happens in the window.
    Event {
        /// Which events.
        select: Select,
        /// When.
        window: Window,
        /// Only the first event of the selected protocol and kind in the window is judged.
        next: bool,
    },
    /// No matching event happens in the window.
    Absent {
        /// Which events.
        select: Select,
        /// When.
        window: Window,
    },
    /// The window holds a number of matching events within `bounds`.
    Count {
        /// Which events.
        select: Select,
        /// When.
        window: Window,
        /// How many.
        bounds: Bounds,
    },
    /// The event of check `first` comes before the event of check `then`.
    Order {
        /// The check whose event comes first.
        first: String,
        /// The check whose event comes after it.
        then: String,
    },
    /// The gaps between consecutive matching events obey every rule given.
    Interval {
        /// Which events.
        select: Select,
        /// When.
        window: Window,
        /// Each gap within `[min, max]` seconds.
        gap: Option<(f64, f64)>,
        /// Each gap the previous one times a factor.
        growth: Option<Growth>,
        /// Each gap a random share of a base time.
        spread: Option<Spread>,
        /// Events needed to judge the gaps (2 or more).
        min_events: u32,
    },
    /// A value of one check's event stands in `relation` to a value of another's.
    Compare {
        /// The value on the left.
        left: ValueFrom,
        /// The value on the right.
        right: ValueFrom,
        /// How the right value must relate to the left one.
        relation: Relation,
    },
}

impl Kind {
    /// The word scenario files use for it.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Event { .. } => "event",
            Kind::Absent { .. } => "absent",
            Kind::Count { .. } => "count",
            Kind::Order { .. } => "order",
            Kind::Interval { .. } => "interval",
            Kind::Compare { .. } => "compare",
        }
    }

    /// The events it selects and its window, for the kinds that select events.
    pub fn selection(&self) -> Option<(&Select, &Window)> {
        match self {
            Kind::Event { select, window, .. }
            | Kind::Absent { select, window }
            | Kind::Count { select, window, .. }
            | Kind::Interval { select, window, .. } => Some((select, window)),
            Kind::Order { .. } | Kind::Compare { .. } => None,
        }
    }

    /// The checks this one needs judged first (its anchor, or the checks it relates).
    pub fn depends_on(&self) -> Vec<&str> {
        match self {
            Kind::Order { first, then } => vec![first, then],
            Kind::Compare { left, right, .. } => vec![&left.check, &right.check],
            other => other
                .selection()
                .and_then(|(_, w)| w.after.as_deref())
                .into_iter()
                .collect(),
        }
    }
}

/// Which events a check looks at: one protocol's events of one kind whose fields satisfy
/// every condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    /// Which server saw them.
    pub proto: Proto,
    /// The event kind, one the protocol reports.
    pub event: String,
    /// Conditions on fields, in the order of their field paths.
    pub matchers: Vec<FieldMatch>,
}

/// A condition on one field path.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMatch {
    /// Dotted path (`auth.result`) or `header.NAME`; one the event kind has.
    pub field: String,
    /// What must hold.
    pub cond: Cond,
}

/// What must hold of a field. Text may hold `${name}` lab variables (all known ones).
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// Its text (a number's decimal form) equals this.
    Equals(String),
    /// It is this number (or its decimal text).
    Integer(i64),
    /// It is this boolean.
    Bool(bool),
    /// A string containing this text, or a list with an element whose text is this.
    Contains(String),
    /// A string the regular expression matches somewhere in.
    Regex(Pattern),
    /// A number in `[min, max]`.
    Range(f64, f64),
    /// Present (true) or absent (false); JSON null counts as absent.
    Present(bool),
}

/// A compiled regular expression; equal when written the same.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Pattern {
    /// The expression as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// When a check looks. Seconds are phone time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Window {
    /// It opens at the event of this check (one that ends on an event), else at the start.
    pub after: Option<String>,
    /// Events earlier than this after the opening do not count.
    pub not_before: Option<f64>,
    /// It closes this long after the opening; open to the end of the run when `None`.
    pub within: Option<f64>,
}

/// How many matching events a count wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounds {
    /// Exactly this many.
    Exactly(u32),
    /// This many or more.
    AtLeast(u32),
    /// This many or fewer.
    AtMost(u32),
    /// From the first to the second, inclusive (first ≤ second).
    Between(u32, u32),
}

impl Bounds {
    /// The lowest acceptable number, if any.
    pub fn min(self) -> Option<u32> {
        match self {
            Bounds::Exactly(n) | Bounds::AtLeast(n) | Bounds::Between(n, _) => Some(n),
            Bounds::AtMost(_) => None,
        }
    }

    /// The highest acceptable number, if any.
    pub fn max(self) -> Option<u32> {
        match self {
            Bounds::Exactly(n) | Bounds::AtMost(n) | Bounds::Between(_, n) => Some(n),
            Bounds::AtLeast(_) => None,
        }
    }
}

/// A value taken from the event another check found.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueFrom {
    /// The check (one that ends on an event).
    pub check: String,
    /// Dotted field path (or `header.NAME`).
    pub field: String,
    /// Narrows the value to its capture groups, joined with `join`.
    pub regex: Option<Pattern>,
    /// Joins capture groups.
    pub join: String,
}

/// The value of a DHCP option as the scenario gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    /// Text with `${name}` lab variables.
    Text(String),
    /// Raw bytes (from hex), for values text cannot say.
    Bytes(Vec<u8>),
}

/// `siaddr` of OFFER and ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Siaddr {
    /// A fixed address.
    Fixed(Ipv4Addr),
    /// `${server_ip}`: the lab's server.
    Server,
    /// `${dead_ip}`: an address in the lab's subnet where nothing answers.
    Dead,
}

/// The DHCP server's setup beyond the raw keys that are already values.
#[derive(Debug, Clone, PartialEq)]
pub struct DhcpPlan {
    /// The site-specific option.
    pub site_option: Option<OptionValue>,
    /// `siaddr`.
    pub siaddr: Option<Siaddr>,
    /// Options appended after the standard ones, in order.
    pub add: Vec<(u8, OptionValue)>,
}

/// How a controller answers one REGISTER attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipAnswer {
    /// Normal service: challenge, check, bind.
    Normal,
    /// Normal service granting at most this many seconds.
    Grant(u32),
    /// This status with these extra header lines; a 401 or 407 carries fresh challenges.
    Status {
        /// 100–699.
        code: u16,
        /// The reason phrase (the standard one unless the scenario gave another).
        reason: String,
        /// Extra header lines, in order (`Retry-After`, `Min-Expires`, anything).
        headers: Vec<(String, String)>,
        /// One challenge per algorithm, in order (the `[sip]` algorithm when empty).
        challenges: Vec<pc_sip::Algorithm>,
        /// The challenges say `stale=true`.
        stale: bool,
    },
    /// Nothing, also to retransmissions.
    Silence,
    /// Close the TCP connection the attempt came on, unanswered (silence over UDP).
    Close,
}

/// One SIP controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    /// Its answers per REGISTER attempt; later attempts get normal service.
    pub script: Vec<SipAnswer>,
    /// It never answers.
    pub down: bool,
    /// It accepts TCP connections on its port (else a connection is refused).
    pub tcp: bool,
    /// It accepts TLS on its TCP port with this certificate.
    pub tls: Option<pc_pki::ServerCertSpec>,
}

/// The registrars: controller 1 is `[sip]` itself, then each `[[sip.controller]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SipPlan {
    /// Digest realm (the domain unless given).
    pub realm: String,
    /// SHA-256 offered in challenges instead of MD5.
    pub sha256: bool,
    /// Wrong credentials get a fresh 401 instead of 403.
    pub challenge_wrong_credentials: bool,
    /// The controllers, in `${sip_port}`, `${sip_port_2}` … order.
    pub controllers: Vec<Controller>,
}

/// What a file-server path serves and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedFile {
    /// The body.
    pub content: FileContent,
    /// How it is delivered.
    pub delivery: Delivery,
    /// Phone seconds to wait before answering.
    pub delay: Option<f64>,
    /// The response headers that depart from the defaults.
    pub headers: HeaderVariants,
    /// The answer to the second and later requests, when it differs.
    pub then: Option<Box<ServedFile>>,
}

/// Response headers a scenario sets for one file; `None` keeps the server's default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderVariants {
    /// `Some(None)`: no Content-Type; `Some(Some(v))`: this value.
    pub content_type: Option<Option<String>>,
    /// `Some(None)`: no Last-Modified; `Some(Some(v))`: this value exactly.
    pub last_modified: Option<Option<String>>,
    pub etag: Option<String>,
    /// Honour a `Range` request header (206/416) instead of ignoring it.
    pub honour_range: bool,
}

/// What a file-server path serves, as loaded.
#[derive(Debug, Clone, PartialEq)]
pub enum FileContent {
    /// Text (a fixture or inline); `${name}` variables are substituted per lab.
    Text(String),
    /// A fixture that is not UTF-8 text, served byte for byte (nothing substituted).
    Bytes(Vec<u8>),
    /// A firmware image the harness builds with the lab signing key.
    Firmware(FirmwareSpec),
    /// A file on disk, streamed, damaged as the scenario says.
    Image(ImageFile),
    /// Only a status code (404, 500 …) is served.
    StatusOnly,
    /// The run's lab CA certificate in PEM.
    LabCa,
}

/// A user-supplied image as loaded: where it is, how much of it is served, what is changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFile {
    /// Resolved against the scenario file's folder.
    pub path: PathBuf,
    /// Bytes served: the file's length, or the truncation.
    pub len: u64,
    /// Flip the lowest bit of the byte at this offset.
    pub bitflip: Option<u64>,
    /// Bytes written over the start of the image.
    pub replace_header: Option<Vec<u8>>,
}

/// How the file server departs from a plain answer. Seconds are phone time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delivery {
    /// The whole body, correctly.
    Serve,
    /// Only this status.
    Status(u16),
    /// The whole body declared, the connection closed after this many bytes.
    CutAfter {
        /// Body bytes sent.
        bytes: u64,
        /// Close with RST instead of FIN.
        reset: bool,
    },
    /// The body under a Content-Length of this many bytes.
    WrongLength(u64),
    /// This many bytes, a pause, then the rest.
    StallAfter {
        /// Body bytes before the pause.
        bytes: u64,
        /// The pause.
        pause: f64,
    },
    /// Chunked transfer coding, this many bytes per chunk.
    Chunked(u64),
    /// No length declared: the body ends where the connection closes.
    CloseDelimited,
    /// `bytes` body bytes every `every` seconds.
    Drip {
        /// Body bytes per step.
        bytes: u64,
        /// Seconds between steps.
        every: f64,
    },
    /// The request is never answered.
    Silence,
}
