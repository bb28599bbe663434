//! Scenario files: what the network does and what the phone must do, one file per scenario.
//!
//! Owns: the TOML format (the serde structs below, `deny_unknown_fields`, documented in
//! `scenarios/README.md` and printed by `phonecert schema`), loading with `file:line:col`
//! errors (all of a file's, in file order), and the typed [`Scenario`] loading produces
//! (`model`): one check kind per variant with its location, setup values parsed once.
//!
//! Decision: the file format stays a set of plain serde structs (so the JSON Schema and the
//! error messages of the TOML reader describe exactly what a file may hold), and the loader
//! converts them into separate typed values; the engine and the judge read only the typed
//! ones. An internally tagged check enum would have changed the file's error messages and
//! schema for no gain to scenario authors.
//!
//! Never: runs anything, judges anything. The engine and the judge take a loaded
//! [`Scenario`]; a value that exists here is valid.
//!
//! Model: sqllogictest-rs — a small closed set of record kinds, each keeping its place in
//! the file so every message can point at it.

mod load;
mod model;
pub mod vars;

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use load::{
    Location, ScenarioError, ScenarioErrors, discover, load_file, load_str, parse_hex, parse_mac,
};
pub use model::{
    Bounds, Check, Cond, Controller, Delivery, DhcpPlan, FieldMatch, FileContent, HeaderVariants,
    ImageFile, Kind, OptionValue, Pattern, Select, ServedFile, Siaddr, SipAnswer, SipPlan,
    ValueFrom, Window,
};

use crate::timeline::Proto;

/// The family a scenario belongs to (design.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// The whole boot sequence end to end.
    Boot,
    /// Option 242 parsing.
    Option242,
    /// Script-driven download decisions.
    Downloads,
    /// Corrupted-binary handling.
    Firmware,
    /// Registration retries.
    Registration,
}

/// A loaded, validated scenario: the typed model the engine and the judge work from.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where it came from.
    pub file: PathBuf,
    /// The file as written, for its identity (`id`, `title`, `family` …), the phone and the
    /// server keys that are values already. Its `check` list is moved into
    /// [`Scenario::checks`] by the loader; nothing reads checks in their file form.
    pub spec: ScenarioSpec,
    /// The checks, typed, in file order.
    pub checks: Vec<Check>,
    /// The DHCP server's parsed values.
    pub dhcp: DhcpPlan,
    /// The registrars.
    pub sip: SipPlan,
    /// The file server's paths (`fw/96xxupgrade.txt`), fixtures read at load time.
    pub files: BTreeMap<String, ServedFile>,
}

impl Scenario {
    /// A check by id.
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// The file as written in the scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Unique id, e.g. `BOOT-001`.
    pub id: String,
    /// One line saying what the scenario shows.
    pub title: String,
    /// Family (design.md §1).
    pub family: Family,
    /// Longer explanation for the report.
    #[serde(default)]
    pub description: Option<String>,
    /// Requirement references (admin-guide or RFC section) the scenario as a whole covers.
    #[serde(default)]
    pub requirements: Vec<String>,
    /// Free tags for filtering.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The phone profiles (`scenarios/profiles/`) the scenario applies to; empty: every one.
    /// A run for another profile reports the scenario as skipped.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// The phone under test.
    pub phone: PhoneSetup,
    /// The DHCP server's behaviour.
    pub dhcp: DhcpSetup,
    /// The file server's content: request path (relative, no leading slash) → file.
    #[serde(default)]
    pub files: BTreeMap<String, FileSpec>,
    /// The file server itself.
    #[serde(default)]
    pub http: HttpSetup,
    /// The HTTPS file server (same files, its own port, the certificate chosen here); none
    /// when absent.
    #[serde(default)]
    pub https: Option<HttpsSetup>,
    /// The SIP registrar.
    pub sip: SipSetup,
    /// How long the scenario runs.
    pub run: RunSetup,
    /// What the phone must do.
    #[serde(rename = "check", default)]
    pub checks: Vec<CheckSpec>,
}

/// The phone under test as the scenario sets it up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneSetup {
    /// MODEL4, e.g. `9620`.
    pub model: String,
    /// The application file name running at the start, e.g. `S96x0_SALBR2_6_0_0.bin`.
    pub firmware: String,
    /// The phone's MAC address (simphone uses it; a real phone is given with `--dut-mac`).
    pub mac: String,
    /// SIP user (extension).
    pub user: String,
    /// SIP password.
    pub password: String,
    /// Run the reference phone's timers this many times faster (its windows scale with it);
    /// `--time-scale` overrides. Real phones run at 1.
    #[serde(default)]
    pub time_scale: Option<f64>,
    /// The phone already trusts the lab CA (as if an earlier TRUSTCERTS had installed it):
    /// the reference phone is given the run's CA; a real phone must have it installed.
    #[serde(default)]
    pub trusts_lab_ca: bool,
    /// `$BOOTNAME`: the boot code running at the start (reference phone default
    /// `simphone_boot_1_0.bin`).
    #[serde(default)]
    pub bootname: Option<String>,
    /// The hardware version: `$MODEL` is MODEL4 followed by it (`9620D01A`), and firmware
    /// images are checked against it (reference phone default `D01A`).
    #[serde(default)]
    pub hardware: Option<String>,
    /// `$HWVERS`: the hardware version (default: unknown).
    #[serde(default)]
    pub hwvers: Option<String>,
    /// `$GROUP`, 0–999 (default 0).
    #[serde(default)]
    pub group: Option<u16>,
    /// What the phone does when the upgrade script cannot be had — a profile parameter the
    /// admin guide leaves open: `settings` (fetch 46xxsettings.txt, then register; the
    /// reference phone's default) or `register` (register with the DHCP values).
    #[serde(default)]
    pub on_missing_upgrade_script: Option<MissingScript>,
}

/// What a phone does when the upgrade script cannot be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MissingScript {
    /// Fetch 46xxsettings.txt itself, then register.
    Settings,
    /// Register with what DHCP gave.
    Register,
}

impl MissingScript {
    /// The word scenario files and the reference phone's flag use.
    pub fn name(self) -> &'static str {
        match self {
            MissingScript::Settings => "settings",
            MissingScript::Register => "register",
        }
    }
}

/// The DHCP server of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DhcpSetup {
    /// The site-specific option string, with `${name}` lab variables.
    #[serde(default)]
    pub option242: Option<String>,
    /// The site-specific option as raw bytes in hex (for malformed strings); excludes
    /// `option242`. Values over 255 bytes go out split per RFC 3396.
    #[serde(default)]
    pub option242_hex: Option<String>,
    /// The site-specific option number (SSON).
    #[serde(default = "default_sson")]
    pub sson: u8,
    /// Lease time in seconds (option 51; 58 and 59 follow at 0.5 and 0.875 of it).
    #[serde(default = "default_lease")]
    pub lease_time: u32,
    /// `siaddr` of OFFER and ACK (with `${name}` variables); 0.0.0.0 when absent.
    #[serde(default)]
    pub siaddr: Option<String>,
    /// Options appended verbatim after the standard ones, in order, duplicates allowed.
    #[serde(default)]
    pub add: Vec<DhcpOption>,
    /// Option codes left out of OFFER and ACK (e.g. 51: no lease time).
    #[serde(default)]
    pub omit: Vec<u8>,
    /// These codes go first, in this order; the rest follow as usual.
    #[serde(default)]
    pub order: Vec<u8>,
    /// What OFFER and ACK do when longer than the client's option 57 (maximum DHCP message
    /// size, RFC 2132 §9.10) allows: `fit` (drop what it did not ask for, overload `file`
    /// and `sname`) or `report` (record that it exceeds, send the largest prefix that fits).
    #[serde(default)]
    pub max_size: pc_dhcp::fit::MaxSizePolicy,
    /// Per-message behaviour, applied in order.
    #[serde(default)]
    pub rules: Vec<DhcpRule>,
    /// DHCP servers on voice VLANs (netns lab only): a phone told `L2QVLAN=N` runs DHCP
    /// again tagged with N and is answered by the entry with that id.
    #[serde(default)]
    pub vlan: Vec<VlanSetup>,
    /// Puts the phone behind a DHCP relay agent (`ip helper-address`; netns lab only): the
    /// phone on its own subnet (10.66.1.0/24), the servers on a second link reached through
    /// a router at 10.66.1.1 (the relay's `giaddr` and the phone's option 3). An empty table
    /// relays without option 82.
    #[serde(default)]
    pub relay: Option<RelaySetup>,
}

/// The relay agent in front of the phone (RFC 1542 §4.1, RFC 2131 §4.1): the agent
/// information (option 82, RFC 3046) it adds to the phone's requests.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RelaySetup {
    /// Option 82 sub-option 1, the agent circuit id (the switch port the phone is on, e.g.
    /// `Gi1/0/7`), 1–255 bytes; none when absent.
    #[serde(default)]
    pub circuit_id: Option<String>,
    /// Option 82 sub-option 2, the agent remote id (the relay itself, e.g. `sw-floor3`),
    /// 1–255 bytes; none when absent.
    #[serde(default)]
    pub remote_id: Option<String>,
}

/// A DHCP server on an 802.1Q VLAN of the lab link, with its own subnet (10.67.0.0/24 for
/// the first entry, 10.68.0.0/24 for the second …); `${server_ip}` stays reachable from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VlanSetup {
    /// VLAN id, 1–4094.
    pub id: u16,
    /// The site-specific option string offered on this VLAN (with `${name}` variables).
    #[serde(default)]
    pub option242: Option<String>,
    /// Lease time in seconds (default: the untagged server's).
    #[serde(default)]
    pub lease_time: Option<u32>,
}

/// An option to add: its code and exactly one of `text` (with `${name}` variables) or `hex`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DhcpOption {
    /// Option code (1–254).
    pub code: u8,
    /// Value as text.
    #[serde(default)]
    pub text: Option<String>,
    /// Value as hex bytes.
    #[serde(default)]
    pub hex: Option<String>,
}

/// What the DHCP server does to particular messages. Times are phone seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum DhcpRule {
    /// Stay silent to the first `count` messages of this type (per client).
    DropFirst {
        /// `DISCOVER`, `REQUEST`, `INFORM` …
        msg_type: pc_dhcp::wire::MessageType,
        /// How many.
        count: u32,
    },
    /// Answer the `nth` REQUEST (1-based, per client) with a NAK.
    NakRequest {
        /// Which one.
        nth: u32,
    },
    /// Answer messages of this type only after `seconds`.
    Delay {
        /// `DISCOVER`, `REQUEST` …
        msg_type: pc_dhcp::wire::MessageType,
        /// How long.
        seconds: f64,
    },
    /// Stay silent to everything until `seconds` after the scenario start.
    AnswerAfter {
        /// How long.
        seconds: f64,
    },
}

fn default_sson() -> u8 {
    242
}
fn default_lease() -> u32 {
    3600
}

/// One file of the file server: exactly one of `fixture`, `text` or `firmware` (or only a
/// `status`), and optionally how the server misbehaves while serving it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// A fixture path, relative to the scenario file.
    #[serde(default)]
    pub fixture: Option<String>,
    /// Inline text.
    #[serde(default)]
    pub text: Option<String>,
    /// Text built from pieces, for content too large or too odd to write out: each piece is
    /// a string, or `{ repeat = "…", times = N }` (the string N times).
    #[serde(default)]
    pub parts: Option<Vec<TextPart>>,
    /// A firmware image to build.
    #[serde(default)]
    pub firmware: Option<FirmwareSpec>,
    /// The run's lab CA certificate, PEM (what TRUSTCERTS names).
    #[serde(default)]
    pub lab_ca: bool,
    /// A file on disk served as it is (a real vendor image): its path, relative to the
    /// scenario file or absolute. Streamed, never read whole into memory.
    #[serde(default)]
    pub image: Option<String>,
    /// With `image`: damage done to it on the way out.
    #[serde(default)]
    pub corrupt: Option<ImageCorruption>,
    /// HTTP status to answer with instead of the content (e.g. 404, 500).
    #[serde(default)]
    pub status: Option<u16>,
    /// Wait this many phone seconds before answering.
    #[serde(default)]
    pub delay: Option<f64>,
    /// Declare the whole body but close after this many body bytes.
    #[serde(default)]
    pub cut_after: Option<u64>,
    /// With `cut_after`: close with a reset (RST) instead of FIN.
    #[serde(default)]
    pub reset: bool,
    /// Send the whole body under a Content-Length of this many bytes.
    #[serde(default)]
    pub wrong_length: Option<u64>,
    /// Send this many body bytes, then go quiet for `pause` phone seconds, then the rest.
    #[serde(default)]
    pub stall_after: Option<u64>,
    /// The pause of `stall_after`.
    #[serde(default)]
    pub pause: Option<f64>,
    /// Send the body with `Transfer-Encoding: chunked` (no Content-Length), this many bytes
    /// per chunk.
    #[serde(default)]
    pub chunked: Option<u64>,
    /// Send the body with neither Content-Length nor Transfer-Encoding: the close ends it.
    #[serde(default)]
    pub close_delimited: bool,
    /// A very slow download: `bytes` body bytes every `every` phone seconds.
    #[serde(default)]
    pub drip: Option<DripSpec>,
    /// Read the request and never answer; the connection stays open until the phone closes
    /// it.
    #[serde(default)]
    pub silence: bool,
    /// The Content-Type value exactly as sent (default: by the file's extension); `false`
    /// leaves the header out.
    #[serde(default)]
    pub content_type: Option<HeaderText>,
    /// The Last-Modified value exactly as sent (default: 2026-01-01 as an IMF-fixdate);
    /// `false` leaves the header out.
    #[serde(default)]
    pub last_modified: Option<HeaderText>,
    /// An ETag value exactly as sent, quotes included (`"v1"`, `W/"v1"`); none by default.
    #[serde(default)]
    pub etag: Option<String>,
    /// What to do with a `Range` request header: `ignore` (the full 200, the default) or
    /// `honour` (206 for one satisfiable range, 416 for one that is not).
    #[serde(default)]
    pub range: Option<RangeMode>,
    /// The answer to the second and later requests for this path (a file of its own, which
    /// may have its own `then` for the third …): `then = { status = 200, … }`.
    #[serde(default)]
    pub then: Option<Box<FileSpec>>,
}

/// A response header's value as given, or `false` to leave the header out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HeaderText {
    /// The value, exactly as it goes on the wire.
    Value(String),
    /// `false`: no such header (`true` is refused: it names no value).
    Present(bool),
}

/// One piece of a file's `parts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TextPart {
    /// This text, once.
    Text(String),
    /// `repeat`, `times` times over.
    Repeat {
        /// The text repeated.
        repeat: String,
        /// How many times.
        times: u64,
    },
}

/// A slow download's pace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DripSpec {
    /// Body bytes per step.
    pub bytes: u64,
    /// Phone seconds between steps.
    pub every: f64,
}

/// How the file server treats `Range` for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RangeMode {
    /// Serve the whole file with 200 (RFC 9110 §14.2 allows ignoring Range).
    Ignore,
    /// 206 with Content-Range for one satisfiable range, 416 for one that is not.
    Honour,
}

/// Damage done to a user-supplied image as it is served; any combination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageCorruption {
    /// Flip the lowest bit of the byte at this offset.
    #[serde(default)]
    pub bitflip: Option<u64>,
    /// Serve only the first this many bytes (Content-Length says so: the transfer is clean,
    /// the image is not).
    #[serde(default)]
    pub truncate: Option<u64>,
    /// Overwrite the image's first bytes with these (hex; spaces and colons allowed).
    #[serde(default)]
    pub replace_header: Option<String>,
}

/// A firmware image built by the harness in the reference image format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FirmwareSpec {
    /// Version carried in the image header, e.g. `2.6.1.0`.
    pub version: String,
    /// Models or model families the image is for (`96x0`, `9620`).
    pub models: Vec<String>,
    /// Hardware versions the image is for (`D01A`); `*` (the default) is any.
    #[serde(default = "any_hardware")]
    pub hardware: Vec<String>,
    /// `application` (the default: what APPNAME names) or `boot_code`.
    #[serde(default)]
    pub kind: FirmwareKind,
    /// Payload size in bytes (deterministic filler).
    #[serde(default = "default_payload")]
    pub size: usize,
    /// Damage done to the image after it is built and signed.
    #[serde(default)]
    pub corrupt: Option<Corruption>,
}

/// Ways a firmware image arrives damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Corruption {
    /// One payload bit flipped after signing (a bit error in transit or storage): only the
    /// hash check can find it.
    FlipByte,
    /// Only the first half of the image.
    Truncate,
    /// Signed by the trusted lab key, but the signature does not verify (one bit of it
    /// flipped).
    BadSignature,
    /// Signed, correctly, by a key the phone does not trust.
    UntrustedSigner,
}

/// What a firmware image is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FirmwareKind {
    /// The phone's application (what APPNAME names).
    #[default]
    Application,
    /// Boot code (what BOOTNAME names).
    BootCode,
}

fn any_hardware() -> Vec<String> {
    vec!["*".into()]
}

fn default_payload() -> usize {
    256 * 1024
}

/// The file server of a scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSetup {
    /// The port it listens on in the netns lab (default 80); the loopback lab always picks
    /// a free port. Scenarios name it as `${http_port}`.
    #[serde(default)]
    pub port: Option<u16>,
}

/// The HTTPS file server of a scenario: the same files as the HTTP one, on its own port,
/// presenting the certificate chosen here (`pc-pki`; scenarios/README.md, "TLS
/// certificates").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpsSetup {
    /// The port it listens on in the netns lab (default 443); the loopback lab picks a free
    /// port. Scenarios name it as `${https_port}`.
    #[serde(default)]
    pub port: Option<u16>,
    /// Which certificate it presents.
    #[serde(default)]
    pub cert: pc_pki::CertChoice,
    /// The certificate's key type.
    #[serde(default)]
    pub key: pc_pki::KeyKind,
}

/// The SIP registrar(s) of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SipSetup {
    /// SIP domain.
    pub domain: String,
    /// Digest realm (defaults to the domain).
    #[serde(default)]
    pub realm: Option<String>,
    /// Accounts the registrar knows.
    pub accounts: Vec<Account>,
    /// Expires granted in 200 OK.
    #[serde(default = "default_expires")]
    pub expires: u32,
    /// Digest algorithm offered in challenges: `MD5` or `SHA-256`.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// Offer `qop="auth"` in challenges (RFC 2617 §3.2.1).
    #[serde(default)]
    pub qop: bool,
    /// How the first controller answers each REGISTER attempt in turn (retransmissions are
    /// not attempts); attempts past the end get normal service.
    #[serde(default)]
    pub script: Vec<SipAnswerSpec>,
    /// The first controller never answers (a dead controller; REGISTERs are still recorded).
    #[serde(default)]
    pub down: bool,
    /// Transports the first controller accepts on its port: `udp`, `tcp` (default both;
    /// without `tcp` a TCP connection is refused).
    #[serde(default)]
    pub transports: Option<Vec<String>>,
    /// What wrong credentials get: 403 (default) or 401 with a fresh challenge.
    #[serde(default)]
    pub wrong_credentials: Option<u16>,
    /// The first controller also accepts SIP over TLS on its TCP port, presenting this
    /// certificate (`{ cert = "lab_ca" | "self_signed" | "expired" | "wrong_name", key =
    /// "rsa2048" | "ecdsa_p256" }`, made under the scenario's lab CA).
    #[serde(default)]
    pub tls: Option<pc_pki::ServerCertSpec>,
    /// More controllers, reachable as `${sip_port_2}`, `${sip_port_3}` … on `${server_ip}`.
    #[serde(default)]
    pub controller: Vec<ControllerSpec>,
}

/// A further SIP controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControllerSpec {
    /// Its answers per REGISTER attempt, as `sip.script`.
    #[serde(default)]
    pub script: Vec<SipAnswerSpec>,
    /// It never answers.
    #[serde(default)]
    pub down: bool,
    /// Transports it accepts, as `sip.transports`.
    #[serde(default)]
    pub transports: Option<Vec<String>>,
    /// TLS on its TCP port, as `sip.tls`.
    #[serde(default)]
    pub tls: Option<pc_pki::ServerCertSpec>,
}

/// One scripted answer: exactly one of `normal`, `grant`, `status`, `silence` or `close`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SipAnswerSpec {
    /// Normal registrar service (challenge, check, bind).
    #[serde(default)]
    pub normal: bool,
    /// Answer with this status (a 401 or 407 carries fresh challenges).
    #[serde(default)]
    pub status: Option<u16>,
    /// `Retry-After` for `status`: seconds, or the header's text with a comment or
    /// parameters (RFC 3261 §20.33).
    #[serde(default)]
    pub retry_after: Option<RetryAfterSpec>,
    /// Reason phrase for `status` (default: the standard one).
    #[serde(default)]
    pub reason: Option<String>,
    /// Extra header lines for `status`, in order: `[["Min-Expires", "3600"]]`.
    #[serde(default)]
    pub headers: Vec<[String; 2]>,
    /// With status 401/407: one challenge per algorithm, in order (`["SHA-256", "MD5"]`).
    #[serde(default)]
    pub challenges: Vec<String>,
    /// With status 401/407: the challenges say `stale=true`.
    #[serde(default)]
    pub stale: bool,
    /// Send nothing, also to retransmissions.
    #[serde(default)]
    pub silence: bool,
    /// Close the TCP connection the attempt came on, unanswered (silence over UDP).
    #[serde(default)]
    pub close: bool,
    /// Normal service, but a registration is granted at most this many seconds (the
    /// Expires of the 200 OK).
    #[serde(default)]
    pub grant: Option<u32>,
}

/// `Retry-After` for a scripted status (RFC 3261 §20.33): seconds, or the header's text
/// (`"300 (maintenance)"`, `"120;duration=60"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RetryAfterSpec {
    /// delta-seconds.
    Seconds(u32),
    /// The header value as written.
    Text(String),
}

fn default_expires() -> u32 {
    3600
}

/// A SIP account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// User part / extension.
    pub user: String,
    /// Password.
    pub password: String,
}

/// How long a scenario runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSetup {
    /// Stop after this many seconds whatever happened.
    pub timeout: f64,
    /// The only lab the scenario can run in (`netns` for 802.1Q VLANs); elsewhere it is
    /// skipped, saying why. Scenarios with `[[dhcp.vlan]]` need the netns lab anyway.
    #[serde(default)]
    pub lab: Option<RequiredLab>,
    /// Stop early, `settle` seconds after this check's event has been seen.
    #[serde(default)]
    pub until: Option<String>,
    /// Seconds to keep watching after `until` is met (to catch what must not happen next).
    #[serde(default = "default_settle")]
    pub settle: f64,
    /// Switch the phone off and on again once this check has passed (or settled): its next
    /// boot is part of the scenario.
    #[serde(default)]
    pub power_cycle: Option<PowerCycle>,
}

/// A power cycle in the middle of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerCycle {
    /// The check whose verdict triggers it.
    pub after: String,
    /// Seconds the phone stays off (phone time).
    #[serde(default = "default_off")]
    pub off: f64,
}

fn default_off() -> f64 {
    2.0
}

fn default_settle() -> f64 {
    1.0
}

/// How the right value of a `compare` relates to the left one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The same text (a Call-ID kept across requests).
    #[default]
    Equal,
    /// Different text (a new branch for a new transaction).
    Different,
    /// Both integers, the right one larger.
    Greater,
    /// Both integers, the right one exactly one more (CSeq of the next request in a
    /// registration, RFC 3261 §10.2.4).
    Successor,
}

impl Relation {
    /// The word scenario files use for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Equal => "equal",
            Relation::Different => "different",
            Relation::Greater => "greater",
            Relation::Successor => "successor",
        }
    }

    /// Whether `right` stands in this relation to `left`; `Err` names a side that is not an
    /// integer where one is needed.
    pub fn holds(self, left: &str, right: &str) -> Result<bool, &'static str> {
        let int = |s: &str, side| s.trim().parse::<i64>().map_err(|_| side);
        match self {
            Relation::Equal => Ok(left == right),
            Relation::Different => Ok(left != right),
            Relation::Greater => Ok(int(right, "right")? > int(left, "left")?),
            Relation::Successor => {
                let l = int(left, "left")?;
                Ok(l.checked_add(1) == Some(int(right, "right")?))
            }
        }
    }
}

/// How much a check matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A failure fails the scenario.
    #[default]
    Must,
    /// A failure is reported but does not fail the scenario.
    Should,
}

/// The JSON Schema (draft 2020-12) of a scenario file, derived from the same serde types the
/// loader reads, so it cannot drift from what `phonecert check` accepts.
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(ScenarioSpec);
    schema.insert("title".into(), "phonecert scenario".into());
    schema.to_value()
}

/// A lab a scenario insists on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequiredLab {
    /// Network namespaces: real broadcast DHCP, 802.1Q tags on the link.
    Netns,
}

/// What a check judges: the closed set of check kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// A matching event happens in the window (`within`, `not_before`).
    Event,
    /// No matching event happens in the window.
    Absent,
    /// The window holds `exactly` / `at_least` / `at_most` matching events.
    Count,
    /// The event of check `first` comes before the event of check `then`.
    Order,
    /// The gaps between consecutive matching events obey `gap`, `growth` and/or `spread`.
    Interval,
    /// A value taken from one check's event equals a value taken from another's.
    Compare,
}

impl CheckKind {
    /// The word used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Event => "event",
            CheckKind::Absent => "absent",
            CheckKind::Count => "count",
            CheckKind::Order => "order",
            CheckKind::Interval => "interval",
            CheckKind::Compare => "compare",
        }
    }

    /// Whether the kind selects events (`proto`, `event`, `match`, window).
    pub fn selects(self) -> bool {
        matches!(
            self,
            CheckKind::Event | CheckKind::Absent | CheckKind::Count | CheckKind::Interval
        )
    }

    /// Whether a check of this kind ends on one event that others can refer to (`after`,
    /// `first`/`then`, `compare`): the event it found, or the first of those it counted.
    pub fn anchors(self) -> bool {
        matches!(
            self,
            CheckKind::Event | CheckKind::Count | CheckKind::Interval
        )
    }
}

/// One check as written. Which keys apply depends on `kind`; the loader rejects the others,
/// naming the key's line and column, and turns the rest into a typed [`Check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// Unique id, e.g. `BOOT-001-03`.
    pub id: String,
    /// What is checked, in a few words.
    pub title: String,
    /// The requirement it tests (admin-guide section or RFC section).
    pub requirement: String,
    /// must / should.
    #[serde(default)]
    pub level: Level,
    /// What the check judges.
    pub kind: CheckKind,
    /// Which server sees the event (event, absent, count, interval).
    #[serde(default)]
    pub proto: Option<Proto>,
    /// The event kind: `received` / `sent` (dhcp), `request` / `response` / `closed` (http),
    /// `request` / `response` / `silence` (sip).
    #[serde(default)]
    pub event: Option<String>,
    /// Field matchers, all of which must hold; keys are dotted field paths, and
    /// `header.NAME` reads a header of an HTTP or SIP message (case-insensitive).
    #[serde(rename = "match", default)]
    pub matchers: BTreeMap<String, Matcher>,
    /// The window opens at the event of this other check (else at the scenario start).
    #[serde(default)]
    pub after: Option<String>,
    /// The window closes this many seconds (phone time) after it opens.
    #[serde(default)]
    pub within: Option<f64>,
    /// Events earlier than this many seconds (phone time) after the window opens do not
    /// count; for kind `event` one that came too early is a failure of its own.
    #[serde(default)]
    pub not_before: Option<f64>,
    /// Event: the first event of this `proto` and `event` kind in the window is the one
    /// judged; it must match, and one that does not fails the check at once (for what a phone
    /// does once, like fetching its upgrade script: a wrong one is the answer).
    #[serde(default)]
    pub next: Option<bool>,
    /// Count: exactly this many matching events.
    #[serde(default)]
    pub exactly: Option<u32>,
    /// Count: at least this many.
    #[serde(default)]
    pub at_least: Option<u32>,
    /// Count: at most this many.
    #[serde(default)]
    pub at_most: Option<u32>,
    /// Order: the check whose event must come first.
    #[serde(default)]
    pub first: Option<String>,
    /// Order: the check whose event must come after it.
    #[serde(default)]
    pub then: Option<String>,
    /// Interval: each gap between consecutive matching events, `[min, max]` seconds.
    #[serde(default)]
    pub gap: Option<[f64; 2]>,
    /// Interval: each gap is the previous one times `factor`, within `tolerance`.
    #[serde(default)]
    pub growth: Option<Growth>,
    /// Interval: each gap is a random share of a base time, e.g. 50–90 % of 60 s.
    #[serde(default)]
    pub spread: Option<Spread>,
    /// Interval: how many matching events are needed to judge the gaps (default 2).
    #[serde(default)]
    pub min_events: Option<u32>,
    /// Compare: the value on the left.
    #[serde(default)]
    pub left: Option<ValueFromSpec>,
    /// Compare: the value on the right; the check passes when it stands in `relation` to
    /// the left one.
    #[serde(default)]
    pub right: Option<ValueFromSpec>,
    /// Compare: `equal` (default), `different`, `greater` or `successor` (right = left + 1).
    #[serde(default)]
    pub relation: Option<Relation>,
}

/// Geometric growth of gaps (e.g. doubling back-off).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Growth {
    /// Each gap divided by the previous one should be this.
    pub factor: f64,
    /// Allowed relative deviation of that ratio, e.g. 0.2 for ±20 %.
    pub tolerance: f64,
}

/// Gaps drawn at random from a share of a base time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spread {
    /// The base time in seconds (phone time).
    pub of: f64,
    /// Lowest share, percent.
    pub min_pct: f64,
    /// Highest share, percent.
    pub max_pct: f64,
    /// The gaps must not all be the same (a phone that never randomises fails).
    #[serde(default)]
    pub varied: bool,
}

/// A value taken from the event another check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueFromSpec {
    /// The check whose event holds the value (kind event, count or interval).
    pub check: String,
    /// Dotted field path (or `header.NAME`).
    pub field: String,
    /// Optional regular expression: the value becomes its capture groups, joined with
    /// `join` (or the whole match when it has no groups).
    #[serde(default)]
    pub regex: Option<String>,
    /// Joins capture groups (default `.`).
    #[serde(default)]
    pub join: Option<String>,
}

/// A condition on one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Matcher {
    /// Shorthand: equals this string.
    Text(String),
    /// Shorthand: equals this number.
    Integer(i64),
    /// Shorthand: equals this boolean.
    Bool(bool),
    /// The explicit form.
    Rule(MatchRule),
}

/// The explicit matcher form: exactly one of its keys.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRule {
    /// Equals (string form of the value).
    #[serde(default)]
    pub equals: Option<String>,
    /// Contains: a substring of a string, or an element of a list (compared as text).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub contains: Option<toml::Value>,
    /// A regular expression that must match somewhere in the string.
    #[serde(default)]
    pub regex: Option<String>,
    /// Inclusive numeric range `[min, max]`.
    #[serde(default)]
    pub range: Option<[f64; 2]>,
    /// Present (true) or absent (false) field; a JSON null counts as absent.
    #[serde(default)]
    pub present: Option<bool>,
}
