//! The phone's parameter store: canonical upper-case NAME → value, where each value came from,
//! and the validation a 9600 SIP phone applies before it accepts a value.
//!
//! Owns: the table of known parameter names (with defaults for the 9600 SIP R2.x profile and a
//! validator each), source precedence (domain.md "DHCP", *Precedence*), and the typed views the
//! phone needs: file servers, SIP controllers (domain.md "Registration"), SIP domain.
//!
//! Never does: parse option strings or scripts (see [`crate::option242`], [`crate::script`]),
//! or persist anything. Invalid values never replace a good one: a rejected `set` leaves the
//! old (or default) value in place, exactly as the admin guide says the phone does.
//!
//! Decisions where the sources are silent:
//! - A value from a lower-precedence source than the one that set the current value is
//!   refused with [`Rejected::LowerPrecedence`] (the old value stays). An equal source may
//!   override (a settings file may set a name twice; the last one wins).
//! - The site-specific option may set only the names domain.md lists for it
//!   ([`SITE_OPTION_NAMES`]); other known names are refused with [`Rejected::NotSettableFrom`].
//! - Unknown names are refused with [`Rejected::UnknownName`]; the phone ignores them.
//! - The read-only phone variables (MODEL4, MACADDR, …) are refused with [`Rejected::ReadOnly`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest parameter name a phone accepts (domain.md "Script language").
pub const MAX_NAME_LEN: usize = 30;
/// Longest parameter value a phone accepts (domain.md "Script language").
pub const MAX_VALUE_LEN: usize = 255;

/// Where a value came from, lowest to highest precedence (domain.md "Precedence").
///
/// LLDP and the call server also appear in the guide's order; the reference phone does
/// not model them, so they are not variants here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The profile's built-in default.
    Default,
    /// DHCP header or standard options (`siaddr`, option 6, option 66 …).
    Dhcp,
    /// The site-specific option (SSON, default 242) or option 43.
    SiteOption,
    /// A `SET` in the upgrade script or the settings file.
    SettingsFile,
    /// Entered on the phone's craft menu.
    Manual,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Default => "default",
            Source::Dhcp => "dhcp",
            Source::SiteOption => "site option",
            Source::SettingsFile => "settings file",
            Source::Manual => "manual entry",
        })
    }
}

/// Why a value was not accepted. The old value stays in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("unknown parameter name {0:?}")]
    UnknownName(String),
    #[error("parameter name longer than {MAX_NAME_LEN} characters")]
    NameTooLong,
    #[error("value longer than {MAX_VALUE_LEN} characters")]
    ValueTooLong,
    #[error("invalid value {value:?} for {name}: {why}")]
    InvalidValue {
        name: String,
        value: String,
        why: String,
    },
    #[error("{name} is held by a higher-precedence source ({held_by}) than {from}")]
    LowerPrecedence {
        name: String,
        held_by: Source,
        from: Source,
    },
    #[error("{name} cannot be set from the {from}")]
    NotSettableFrom { name: String, from: Source },
    #[error("{0} is a read-only phone variable")]
    ReadOnly(String),
}

/// Read-only phone variables a script may test but never set (domain.md "Script language").
/// SIG and APPNAME are not here: they are ordinary settings as well.
pub const READ_ONLY_NAMES: &[&str] = &[
    "MODEL4",
    "MODEL",
    "GROUP",
    "MACADDR",
    "SIG_IN_USE",
    "BOOTNAME",
    "HWVERS",
    "SHA2CAPABLE",
    "VPNACTIVE",
];

/// Names the site-specific option may set on a SIP phone (domain.md "DHCP").
pub const SITE_OPTION_NAMES: &[&str] = &[
    "HTTPSRVR",
    "HTTPDIR",
    "HTTPPORT",
    "TLSSRVR",
    "TLSDIR",
    "TLSPORT",
    "TLSSRVRID",
    "SIG",
    "SIP_CONTROLLER_LIST",
    "SIPDOMAIN",
    "L2Q",
    "L2QVLAN",
    "VLANTEST",
    "ICMPDU",
    "ICMPRED",
    "LOGSRVR",
    "MTU_SIZE",
    "PROCPSWD",
    "PHY1STAT",
    "PHY2STAT",
    "PROCSTAT",
];

/// How a known parameter's value is checked.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A TCP/UDP port, 1–65535.
    Port,
    /// A decimal integer in an inclusive range.
    Range(u32, u32),
    /// One of a fixed set of integers.
    OneOf(&'static [u32]),
    /// Comma-separated IPv4/IPv6 addresses or DNS names, no spaces.
    HostList,
    /// A DNS name (or address).
    Host,
    /// A directory path on a file server: no whitespace, quotes or control characters.
    Path,
    /// A file name: non-empty, no whitespace, no '/'.
    FileName,
    /// `host[:port][;transport=…]` entries, comma-separated.
    ControllerList,
    /// Up to `n` decimal digits (PROCPSWD is 0–7 digits).
    Digits(usize),
    /// Any text within the length limit, no control characters.
    Text,
}

/// One row of the parameter table: canonical name, default ("" = unset), validator.
struct Known {
    name: &'static str,
    default: &'static str,
    kind: Kind,
}

const fn k(name: &'static str, default: &'static str, kind: Kind) -> Known {
    Known {
        name,
        default,
        kind,
    }
}

/// The parameters this profile knows. Defaults are the 9600 SIP R2.x ones from the admin
/// guide as summarised in domain.md; ranges the guide gives are enforced, others are `Text`.
static KNOWN: &[Known] = &[
    // File servers.
    k("HTTPSRVR", "", Kind::HostList),
    k("HTTPDIR", "", Kind::Path),
    k("HTTPPORT", "80", Kind::Port),
    k("TLSSRVR", "", Kind::HostList),
    k("TLSDIR", "", Kind::Path),
    k("TLSPORT", "443", Kind::Port),
    k("TLSSRVRID", "0", Kind::OneOf(&[0, 1])),
    k("APPNAME", "", Kind::FileName),
    // Signalling protocol and SIP.
    k("SIG", "0", Kind::Range(0, 2)),
    k("SIP_CONTROLLER_LIST", "", Kind::ControllerList),
    k("SIPPROXYSRVR", "", Kind::HostList),
    k("SIPSIGNAL", "2", Kind::Range(0, 2)),
    k("SIPDOMAIN", "", Kind::Host),
    k("SIPREGPROXYPOLICY", "", Kind::Text),
    k("SIMULTANEOUS_REGISTRATIONS", "3", Kind::Range(1, 3)),
    k("ENABLE_AVAYA_ENVIRONMENT", "1", Kind::OneOf(&[0, 1])),
    k("REGISTERWAIT", "900", Kind::Range(30, 86_400)),
    k("WAIT_FOR_REGISTRATION_TIMER", "32", Kind::Range(4, 3600)),
    k("RECOVERYREGISTERWAIT", "60", Kind::Range(10, 600)),
    k("FAST_RESPONSE_TIMEOUT", "4", Kind::Range(0, 32)),
    k("FORCE_SIP_EXTENSION", "", Kind::Text),
    k("FORCE_SIP_USERNAME", "", Kind::Text),
    k("FORCE_SIP_PASSWORD", "", Kind::Text),
    k("DIALPLAN", "", Kind::Text),
    // DHCP and network.
    k("SSON", "242", Kind::Range(128, 255)),
    k("L2Q", "0", Kind::Range(0, 2)),
    k("L2QVLAN", "0", Kind::Range(0, 4094)),
    k("VLANTEST", "60", Kind::Range(0, 999)),
    k("REUSETIME", "60", Kind::Range(0, 999)),
    k("DNSSRVR", "", Kind::HostList),
    k("DOMAIN", "", Kind::Host),
    k("ICMPDU", "1", Kind::Range(0, 2)),
    k("ICMPRED", "0", Kind::OneOf(&[0, 1])),
    k("MTU_SIZE", "1500", Kind::OneOf(&[1496, 1500])),
    k("PHY1STAT", "1", Kind::Range(1, 6)),
    k("PHY2STAT", "1", Kind::Range(0, 6)),
    k("PROCSTAT", "0", Kind::OneOf(&[0, 1])),
    k("PROCPSWD", "27238", Kind::Digits(7)),
    k("LOGSRVR", "", Kind::HostList),
    k("SNTPSRVR", "", Kind::HostList),
    k("GMTOFFSET", "", Kind::Text),
    // Certificates and languages the settings file directs.
    k("TRUSTCERTS", "", Kind::Text),
    k("LANGUAGES", "", Kind::Text),
    // Parameters a settings file commonly carries that the boot under test does not act on.
    // They are known so that lint and eval do not call them unknown; only the ranges the
    // protocols fix are enforced (DSCP is 6 bits, RFC 2474 §3; an 802.1p priority is 3 bits,
    // IEEE 802.1Q), the rest are `Text`, and none has a default here.
    k("DSCPAUD", "", Kind::Range(0, 63)),
    k("DSCPSIG", "", Kind::Range(0, 63)),
    k("DSCPVID", "", Kind::Range(0, 63)),
    k("L2QAUD", "", Kind::Range(0, 7)),
    k("L2QSIG", "", Kind::Range(0, 7)),
    k("DHCPSTD", "", Kind::Text),
    k("SNMPADD", "", Kind::HostList),
    k("SNMPSTRING", "", Kind::Text),
    k("DOT1X", "", Kind::Text),
    k("DOT1XSTAT", "", Kind::Text),
    k("PHNCC", "", Kind::Text),
    k("PHNIC", "", Kind::Text),
    k("PHNLD", "", Kind::Text),
    k("PHNOL", "", Kind::Text),
    k("PHNDPLENGTH", "", Kind::Text),
    k("ENHDIALSTAT", "", Kind::Text),
    k("MSGNUM", "", Kind::Text),
    k("ENABLE_IPOFFICE", "", Kind::Text),
    k("ENABLE_G729", "", Kind::Text),
    k("DSTOFFSET", "", Kind::Text),
    k("DSTSTART", "", Kind::Text),
    k("DSTSTOP", "", Kind::Text),
    k("FAILBACK_POLICY", "", Kind::Text),
    k("CONFIG_SERVER_SECURE_MODE", "", Kind::Text),
    k("SPEAKERSTAT", "", Kind::Text),
    k("TIMEFORMAT", "", Kind::Text),
    k("DATEFORMAT", "", Kind::Text),
    k("AUDIOPATH", "", Kind::Text),
    k("BAKLIGHTOFF", "", Kind::Text),
];

fn known(canonical: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.name == canonical)
}

/// The canonical (upper-case) form of a parameter name, if it is syntactically a name.
fn canonical_name(name: &str) -> Option<String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    Some(name.to_ascii_uppercase())
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    value: String,
    source: Source,
}

/// The phone's parameter store, with the 9600 SIP profile's defaults.
///
/// `get` returns `None` for names that are unknown or have no value (empty default, never
/// set); `""` is never stored — setting `""` resets the name to its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    values: BTreeMap<&'static str, Entry>,
    /// Names this phone refuses from the site option although domain.md lists them (a
    /// profile knob: some releases refuse SIPDOMAIN from DHCP).
    site_option_denied: BTreeSet<&'static str>,
}

impl Default for Settings {
    fn default() -> Self {
        Self::new()
    }
}

impl Settings {
    /// A store holding only the profile defaults.
    pub fn new() -> Self {
        let values = KNOWN
            .iter()
            .filter(|k| !k.default.is_empty())
            .map(|k| {
                (
                    k.name,
                    Entry {
                        value: k.default.to_string(),
                        source: Source::Default,
                    },
                )
            })
            .collect();
        Settings {
            values,
            site_option_denied: BTreeSet::new(),
        }
    }

    /// Refuse `name` from [`Source::SiteOption`] from now on (a profile knob for releases
    /// that do not take e.g. SIPDOMAIN from DHCP). Returns false for an unknown name.
    pub fn deny_from_site_option(&mut self, name: &str) -> bool {
        match canonical_name(name).and_then(|c| known(&c)) {
            Some(row) => {
                self.site_option_denied.insert(row.name);
                true
            }
            None => false,
        }
    }

    /// Whether `name` (any case) is a parameter this profile knows.
    pub fn is_known(name: &str) -> bool {
        canonical_name(name).is_some_and(|c| known(&c).is_some())
    }

    /// The default of a known name (`None` when unknown or the default is empty).
    pub fn default_of(name: &str) -> Option<&'static str> {
        let c = canonical_name(name)?;
        known(&c).map(|k| k.default).filter(|d| !d.is_empty())
    }

    /// Set `name` to `value` as `source` says. Names are case-insensitive, values
    /// case-sensitive, `""` resets to the default. On `Err` nothing changed.
    pub fn set(&mut self, name: &str, value: &str, source: Source) -> Result<(), Rejected> {
        if name.chars().count() > MAX_NAME_LEN {
            return Err(Rejected::NameTooLong);
        }
        let canonical =
            canonical_name(name).ok_or_else(|| Rejected::UnknownName(name.to_string()))?;
        if READ_ONLY_NAMES.contains(&canonical.as_str()) {
            return Err(Rejected::ReadOnly(canonical));
        }
        let row = known(&canonical).ok_or_else(|| Rejected::UnknownName(name.to_string()))?;
        if value.chars().count() > MAX_VALUE_LEN {
            return Err(Rejected::ValueTooLong);
        }
        if source == Source::SiteOption
            && (!SITE_OPTION_NAMES.contains(&row.name)
                || self.site_option_denied.contains(row.name))
        {
            return Err(Rejected::NotSettableFrom {
                name: row.name.to_string(),
                from: source,
            });
        }
        if let Some(held) = self.values.get(row.name)
            && held.source > source
        {
            return Err(Rejected::LowerPrecedence {
                name: row.name.to_string(),
                held_by: held.source,
                from: source,
            });
        }
        if value.is_empty() {
            if row.default.is_empty() {
                self.values.remove(row.name);
            } else {
                self.values.insert(
                    row.name,
                    Entry {
                        value: row.default.to_string(),
                        source: Source::Default,
                    },
                );
            }
            return Ok(());
        }
        validate(row.kind, value).map_err(|why| Rejected::InvalidValue {
            name: row.name.to_string(),
            value: value.to_string(),
            why,
        })?;
        self.values.insert(
            row.name,
            Entry {
                value: value.to_string(),
                source,
            },
        );
        Ok(())
    }

    /// The value of `name` (any case), if it has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        let c = canonical_name(name)?;
        self.values.get(c.as_str()).map(|e| e.value.as_str())
    }

    /// Where the value of `name` came from, if it has one.
    pub fn source_of(&self, name: &str) -> Option<Source> {
        let c = canonical_name(name)?;
        self.values.get(c.as_str()).map(|e| e.source)
    }

    /// HTTPSRVR as a list (comma separated, first = tried first).
    pub fn http_servers(&self) -> Vec<String> {
        split_list(self.get("HTTPSRVR"))
    }

    /// TLSSRVR as a list.
    pub fn tls_servers(&self) -> Vec<String> {
        split_list(self.get("TLSSRVR"))
    }

    /// A list of files (TRUSTCERTS, LANGUAGES): its comma-separated entries, each trimmed,
    /// empty ones dropped; none when unset.
    pub fn files(&self, name: &str) -> Vec<String> {
        self.get(name)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// HTTPPORT (validated on set, so the fallback 80 only guards a broken table).
    pub fn http_port(&self) -> u16 {
        self.get("HTTPPORT")
            .and_then(|v| v.parse().ok())
            .unwrap_or(80)
    }

    /// TLSPORT.
    pub fn tls_port(&self) -> u16 {
        self.get("TLSPORT")
            .and_then(|v| v.parse().ok())
            .unwrap_or(443)
    }

    /// HTTPDIR without leading/trailing slashes; `""` when unset.
    pub fn http_dir(&self) -> String {
        self.get("HTTPDIR")
            .unwrap_or("")
            .trim_matches('/')
            .to_string()
    }

    /// TLSDIR without leading/trailing slashes; `""` when unset.
    pub fn tls_dir(&self) -> String {
        self.get("TLSDIR")
            .unwrap_or("")
            .trim_matches('/')
            .to_string()
    }

    /// The SIP controllers in priority order: SIP_CONTROLLER_LIST, else SIPPROXYSRVR with the
    /// transport SIPSIGNAL names (0 UDP, 1 TCP, 2 TLS) and that transport's default port.
    pub fn sip_controllers(&self) -> Vec<SipControllerEntry> {
        if let Some(list) = self.get("SIP_CONTROLLER_LIST") {
            return list
                .split(',')
                .filter_map(|e| SipControllerEntry::parse(e).ok())
                .collect();
        }
        let transport = match self.get("SIPSIGNAL") {
            Some("0") => Transport::Udp,
            Some("1") => Transport::Tcp,
            _ => Transport::Tls,
        };
        split_list(self.get("SIPPROXYSRVR"))
            .into_iter()
            .map(|host| SipControllerEntry {
                host,
                port: transport.default_port(),
                transport,
            })
            .collect()
    }

    /// Where the phone fetches scripts and settings files, in the order it tries them:
    /// every TLSSRVR over HTTPS (TLSPORT, TLSDIR) first, then every HTTPSRVR over HTTP
    /// (HTTPPORT, HTTPDIR) — domain.md "File server".
    pub fn file_servers(&self) -> Vec<FileServer> {
        let https = self.tls_servers().into_iter().map(|host| FileServer {
            scheme: Scheme::Https,
            host,
            port: self.tls_port(),
            dir: self.tls_dir(),
        });
        let http = self.http_servers().into_iter().map(|host| FileServer {
            scheme: Scheme::Http,
            host,
            port: self.http_port(),
            dir: self.http_dir(),
        });
        https.chain(http).collect()
    }

    /// SIPDOMAIN, if set.
    pub fn sip_domain(&self) -> Option<String> {
        self.get("SIPDOMAIN").map(str::to_string)
    }

    /// Every name that has a value, in name order, with its source.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, Source)> {
        self.values
            .iter()
            .map(|(name, e)| (*name, e.value.as_str(), e.source))
    }
}

fn split_list(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn validate(kind: Kind, value: &str) -> Result<(), String> {
    if value.chars().any(char::is_control) {
        return Err("contains a control character".into());
    }
    match kind {
        Kind::Port => parse_int(value, 1, 65_535).map(|_| ()),
        Kind::Range(lo, hi) => parse_int(value, lo, hi).map(|_| ()),
        Kind::OneOf(set) => {
            let n = parse_int(value, 0, u32::MAX)?;
            if set.contains(&n) {
                Ok(())
            } else {
                Err(format!("must be one of {set:?}"))
            }
        }
        Kind::HostList => {
            for item in value.split(',') {
                check_host(item)?;
            }
            Ok(())
        }
        Kind::Host => check_host(value),
        Kind::Path => {
            if value
                .chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '\\')
            {
                Err("a directory may not contain spaces, quotes or backslashes".into())
            } else {
                Ok(())
            }
        }
        Kind::FileName => {
            if value
                .chars()
                .any(|c| c.is_whitespace() || c == '/' || c == '"')
            {
                Err("a file name may not contain spaces, quotes or '/'".into())
            } else {
                Ok(())
            }
        }
        Kind::ControllerList => {
            for item in value.split(',') {
                SipControllerEntry::parse(item).map_err(|e| match e {
                    Rejected::InvalidValue { why, .. } => format!("entry {item:?}: {why}"),
                    other => other.to_string(),
                })?;
            }
            Ok(())
        }
        Kind::Digits(n) => {
            if value.len() <= n && value.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err(format!("must be up to {n} digits"))
            }
        }
        Kind::Text => Ok(()),
    }
}

fn parse_int(value: &str, lo: u32, hi: u32) -> Result<u32, String> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a decimal number".into());
    }
    match value.parse::<u32>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("out of range {lo}–{hi}")),
    }
}

/// An IPv4/IPv6 address or a DNS name. All-numeric dotted names must be valid IPv4 (so a
/// typo like `10.1.1.256` is caught rather than looked up in DNS).
fn check_host(h: &str) -> Result<(), String> {
    if h.is_empty() {
        return Err("empty host (stray comma?)".into());
    }
    if h.parse::<Ipv4Addr>().is_ok() || h.parse::<Ipv6Addr>().is_ok() {
        return Ok(());
    }
    if h.len() > 253 {
        return Err(format!("host {h:?} is too long"));
    }
    let labels: Vec<&str> = h.trim_end_matches('.').split('.').collect();
    if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("{h:?} is not a valid IPv4 address"));
    }
    for l in &labels {
        let ok = !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-');
        if !ok {
            return Err(format!("{h:?} is not an IP address or host name"));
        }
    }
    Ok(())
}

/// How a file server is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Https,
    Http,
}

impl Scheme {
    /// `https` or `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }

    /// 443 or 80: the port a URL leaves out.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Https => 443,
            Scheme::Http => 80,
        }
    }
}

/// One file server the phone would try: a TLSSRVR or HTTPSRVR entry with its port and folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileServer {
    pub scheme: Scheme,
    /// Address or name as configured (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The folder without leading or trailing slashes; `""` for the server's root.
    pub dir: String,
}

impl FileServer {
    /// The URL of `file` on this server (the folder's URL for `""`): the port only when it
    /// is not the scheme's default, an IPv6 address in brackets.
    pub fn url(&self, file: &str) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let port = if self.port == self.scheme.default_port() {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        let dir = if self.dir.is_empty() {
            String::new()
        } else {
            format!("{}/", self.dir)
        };
        format!("{}://{host}{port}/{dir}{file}", self.scheme.as_str())
    }
}

/// SIP transport of a controller entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// 5061 for TLS, 5060 for TCP and UDP (domain.md "Registration").
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            Transport::Tcp | Transport::Udp => 5060,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One SIP_CONTROLLER_LIST entry: `host[:port][;transport=tls|tcp|udp]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipControllerEntry {
    /// Address or name as written (IPv6 without the brackets).
    pub host: String,
    /// As written, else the transport's default (TLS 5061, TCP/UDP 5060).
    pub port: u16,
    /// As written (case-insensitive), else TLS.
    pub transport: Transport,
}

impl SipControllerEntry {
    /// Parse one entry. Unknown parameters, spaces and bad ports are refused: a phone that
    /// accepted them would register somewhere the administrator did not mean.
    pub fn parse(s: &str) -> Result<Self, Rejected> {
        let bad = |why: String| Rejected::InvalidValue {
            name: "SIP_CONTROLLER_LIST".into(),
            value: s.to_string(),
            why,
        };
        if s.chars().any(char::is_whitespace) {
            return Err(bad("spaces are not allowed".into()));
        }
        let mut parts = s.split(';');
        let hostport = parts.next().unwrap_or("");
        let mut transport = Transport::Tls;
        let mut seen_transport = false;
        for param in parts {
            let (key, val) = param.split_once('=').unwrap_or((param, ""));
            if !key.eq_ignore_ascii_case("transport") {
                return Err(bad(format!("unknown parameter {param:?}")));
            }
            if seen_transport {
                return Err(bad("transport given twice".into()));
            }
            seen_transport = true;
            transport = match val.to_ascii_lowercase().as_str() {
                "tls" => Transport::Tls,
                "tcp" => Transport::Tcp,
                "udp" => Transport::Udp,
                _ => return Err(bad(format!("unknown transport {val:?}"))),
            };
        }
        let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
            // [IPv6]:port
            let (addr, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("unterminated '['".into()))?;
            if addr.parse::<Ipv6Addr>().is_err() {
                return Err(bad(format!("{addr:?} is not an IPv6 address")));
            }
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("junk after ']'".into()))?,
                ),
            };
            (addr, port)
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("empty host".into()));
        }
        if !hostport.starts_with('[') {
            check_host(host).map_err(bad)?;
        }
        let port = match port {
            None => transport.default_port(),
            Some(p) => parse_int(p, 1, 65_535)
                .map_err(|why| bad(format!("port: {why}")))?
                .try_into()
                .map_err(|_| bad("port out of range".into()))?,
        };
        Ok(SipControllerEntry {
            host: host.to_string(),
            port,
            transport,
        })
    }
}

impl fmt::Display for SipControllerEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        write!(f, ":{};transport={}", self.port, self.transport)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_of_the_9600_sip_profile() {
        let s = Settings::new();
        assert_eq!(s.get("HTTPPORT"), Some("80"));
        assert_eq!(s.get("TLSPORT"), Some("443"));
        assert_eq!(s.get("SIG"), Some("0"));
        assert_eq!(s.get("SSON"), Some("242"));
        assert_eq!(s.get("L2Q"), Some("0"));
        assert_eq!(s.get("L2QVLAN"), Some("0"));
        assert_eq!(s.get("VLANTEST"), Some("60"));
        assert_eq!(s.get("REGISTERWAIT"), Some("900"));
        assert_eq!(s.get("WAIT_FOR_REGISTRATION_TIMER"), Some("32"));
        assert_eq!(s.get("RECOVERYREGISTERWAIT"), Some("60"));
        assert_eq!(s.get("FAST_RESPONSE_TIMEOUT"), Some("4"));
        assert_eq!(s.get("HTTPSRVR"), None);
        assert_eq!(s.http_dir(), "");
        assert!(s.http_servers().is_empty());
        assert!(s.sip_controllers().is_empty());
        assert_eq!(s.source_of("SIG"), Some(Source::Default));
    }

    #[test]
    fn names_case_insensitive_values_case_sensitive() {
        let mut s = Settings::new();
        s.set("sipdomain", "Lab.Test", Source::SettingsFile)
            .unwrap();
        assert_eq!(s.get("SIPDOMAIN"), Some("Lab.Test"));
        assert_eq!(s.get("SipDomain"), Some("Lab.Test"));
        assert_eq!(s.sip_domain().as_deref(), Some("Lab.Test"));
    }

    #[test]
    fn invalid_values_keep_the_old_value() {
        let mut s = Settings::new();
        s.set("HTTPPORT", "8080", Source::SettingsFile).unwrap();
        for bad in ["0", "65536", "80a", "-1", " 80"] {
            assert!(
                matches!(
                    s.set("HTTPPORT", bad, Source::SettingsFile),
                    Err(Rejected::InvalidValue { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(s.http_port(), 8080);
        assert!(s.set("L2QVLAN", "4095", Source::Manual).is_err());
        s.set("L2QVLAN", "4094", Source::Manual).unwrap();
        assert!(s.set("VLANTEST", "1000", Source::Manual).is_err());
        s.set("VLANTEST", "999", Source::Manual).unwrap();
        assert!(s.set("SIG", "3", Source::Manual).is_err());
        assert!(s.set("SSON", "127", Source::Manual).is_err());
        assert!(s.set("SSON", "256", Source::Manual).is_err());
        s.set("SSON", "176", Source::Manual).unwrap();
        assert_eq!(s.get("SSON"), Some("176"));
        assert!(s.set("HTTPSRVR", "10.1.1.256", Source::Manual).is_err());
        assert!(s.set("HTTPSRVR", "10.1.1.5,", Source::Manual).is_err());
        assert!(
            s.set("HTTPSRVR", "10.1.1.5, 10.1.1.6", Source::Manual)
                .is_err()
        );
        assert!(s.set("HTTPSRVR", "bad_host", Source::Manual).is_err());
        assert_eq!(s.get("HTTPSRVR"), None);
    }

    #[test]
    fn lists_and_names() {
        let mut s = Settings::new();
        s.set("HTTPSRVR", "10.1.1.5,files.lab.test", Source::SiteOption)
            .unwrap();
        assert_eq!(s.http_servers(), vec!["10.1.1.5", "files.lab.test"]);
        s.set("HTTPDIR", "/fw/96xx/", Source::SiteOption).unwrap();
        assert_eq!(s.http_dir(), "fw/96xx");
        assert!(s.files("LANGUAGES").is_empty());
        s.set("LANGUAGES", "a.xml, b.xml,,c.xml", Source::SettingsFile)
            .unwrap();
        assert_eq!(s.files("LANGUAGES"), vec!["a.xml", "b.xml", "c.xml"]);
        assert_eq!(s.files("languages"), s.files("LANGUAGES"));
    }

    #[test]
    fn empty_value_resets_to_default() {
        let mut s = Settings::new();
        s.set("HTTPPORT", "8080", Source::SettingsFile).unwrap();
        s.set("HTTPPORT", "", Source::SettingsFile).unwrap();
        assert_eq!(s.get("HTTPPORT"), Some("80"));
        assert_eq!(s.source_of("HTTPPORT"), Some(Source::Default));
        s.set("HTTPDIR", "fw", Source::SettingsFile).unwrap();
        s.set("httpdir", "", Source::SettingsFile).unwrap();
        assert_eq!(s.get("HTTPDIR"), None);
    }

    #[test]
    fn lower_precedence_does_not_override() {
        let mut s = Settings::new();
        s.set("HTTPSRVR", "10.1.1.9", Source::Dhcp).unwrap();
        s.set("HTTPSRVR", "10.1.1.5", Source::SiteOption).unwrap();
        assert_eq!(
            s.set("HTTPSRVR", "10.1.1.7", Source::Dhcp),
            Err(Rejected::LowerPrecedence {
                name: "HTTPSRVR".into(),
                held_by: Source::SiteOption,
                from: Source::Dhcp
            })
        );
        assert_eq!(s.get("HTTPSRVR"), Some("10.1.1.5"));
        // Equal precedence overrides: the last SET in a file wins.
        s.set("HTTPSRVR", "10.1.1.6", Source::SiteOption).unwrap();
        assert_eq!(s.get("HTTPSRVR"), Some("10.1.1.6"));
        s.set("HTTPSRVR", "10.1.1.8", Source::Manual).unwrap();
        assert!(s.set("HTTPSRVR", "", Source::SettingsFile).is_err());
        assert_eq!(s.get("HTTPSRVR"), Some("10.1.1.8"));
    }

    #[test]
    fn common_settings_file_names_are_known_and_protocol_ranges_enforced() {
        let mut s = Settings::new();
        for (name, value) in [
            ("DSCPAUD", "46"),
            ("DSCPSIG", "34"),
            ("L2QAUD", "6"),
            ("SNMPADD", "192.0.2.40"),
            ("PHNCC", "1"),
            ("FAILBACK_POLICY", "admin"),
            ("ENABLE_G729", "1"),
        ] {
            s.set(name, value, Source::SettingsFile).unwrap();
            assert_eq!(s.get(name), Some(value), "{name}");
        }
        assert!(s.set("DSCPAUD", "300", Source::SettingsFile).is_err());
        assert!(s.set("L2QSIG", "8", Source::SettingsFile).is_err());
        assert_eq!(s.get("DSCPAUD"), Some("46"));
        // None of them has a default: unset, they are not in force.
        assert_eq!(s.get("DSCPVID"), None);
    }

    #[test]
    fn unknown_read_only_and_long_names() {
        let mut s = Settings::new();
        assert_eq!(
            s.set("NOSUCH", "1", Source::SettingsFile),
            Err(Rejected::UnknownName("NOSUCH".into()))
        );
        assert_eq!(
            s.set("MODEL4", "9620", Source::SettingsFile),
            Err(Rejected::ReadOnly("MODEL4".into()))
        );
        assert_eq!(
            s.set(&"A".repeat(31), "1", Source::SettingsFile),
            Err(Rejected::NameTooLong)
        );
        assert_eq!(
            s.set("DIALPLAN", &"x".repeat(256), Source::SettingsFile),
            Err(Rejected::ValueTooLong)
        );
        s.set("DIALPLAN", &"x".repeat(255), Source::SettingsFile)
            .unwrap();
        assert!(matches!(
            s.set("REGISTERWAIT", "60", Source::SiteOption),
            Err(Rejected::NotSettableFrom { .. })
        ));
    }

    #[test]
    fn site_option_denial_knob() {
        let mut s = Settings::new();
        assert!(s.deny_from_site_option("sipdomain"));
        assert!(!s.deny_from_site_option("NOSUCH"));
        assert!(matches!(
            s.set("SIPDOMAIN", "lab.test", Source::SiteOption),
            Err(Rejected::NotSettableFrom { .. })
        ));
        s.set("SIPDOMAIN", "lab.test", Source::SettingsFile)
            .unwrap();
        assert_eq!(s.sip_domain().as_deref(), Some("lab.test"));
        s.set("HTTPDIR", "fw", Source::SiteOption).unwrap();
    }

    #[test]
    fn controller_entries() {
        let e = SipControllerEntry::parse("10.1.1.6").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.transport),
            ("10.1.1.6", 5061, Transport::Tls)
        );
        let e = SipControllerEntry::parse("10.1.1.6:5070;transport=TCP").unwrap();
        assert_eq!((e.port, e.transport), (5070, Transport::Tcp));
        let e = SipControllerEntry::parse("sm1.lab.test;transport=udp").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.transport),
            ("sm1.lab.test", 5060, Transport::Udp)
        );
        let e = SipControllerEntry::parse("[2001:db8::1]:5062;transport=tls").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("2001:db8::1", 5062));
        assert_eq!(e.to_string(), "[2001:db8::1]:5062;transport=tls");
        for bad in [
            "",
            ":5060",
            "10.1.1.6:0",
            "10.1.1.6:65536",
            "10.1.1.6:x",
            "10.1.1.6;transport=sctp",
            "10.1.1.6;lr",
            "10.1.1.6 ;transport=tcp",
            "[2001:db8::1",
        ] {
            assert!(SipControllerEntry::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn controllers_from_list_or_proxy_and_signal() {
        let mut s = Settings::new();
        s.set("SIPPROXYSRVR", "10.1.1.7,10.1.1.8", Source::SettingsFile)
            .unwrap();
        s.set("SIPSIGNAL", "1", Source::SettingsFile).unwrap();
        let c = s.sip_controllers();
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[1].host.as_str(), c[1].port, c[1].transport),
            ("10.1.1.8", 5060, Transport::Tcp)
        );
        s.set(
            "SIP_CONTROLLER_LIST",
            "10.1.1.6:5060;transport=udp,10.1.1.9",
            Source::SettingsFile,
        )
        .unwrap();
        let c = s.sip_controllers();
        assert_eq!(
            c[0],
            SipControllerEntry {
                host: "10.1.1.6".into(),
                port: 5060,
                transport: Transport::Udp
            }
        );
        assert_eq!(c[1].transport, Transport::Tls);
        assert!(
            s.set(
                "SIP_CONTROLLER_LIST",
                "10.1.1.6;transport=x",
                Source::SettingsFile
            )
            .is_err()
        );
        assert_eq!(s.sip_controllers().len(), 2);
    }

    #[test]
    fn file_servers_https_first_then_http_with_ports_and_folders() {
        let mut s = Settings::new();
        assert!(s.file_servers().is_empty());
        s.set(
            "HTTPSRVR",
            "192.0.2.10,files.example.com",
            Source::SiteOption,
        )
        .unwrap();
        s.set("HTTPDIR", "/phones/96xx/", Source::SiteOption)
            .unwrap();
        s.set("TLSSRVR", "2001:db8::5", Source::SiteOption).unwrap();
        s.set("TLSPORT", "8443", Source::SiteOption).unwrap();
        let urls: Vec<String> = s.file_servers().iter().map(|f| f.url("")).collect();
        assert_eq!(
            urls,
            vec![
                "https://[2001:db8::5]:8443/",
                "http://192.0.2.10/phones/96xx/",
                "http://files.example.com/phones/96xx/"
            ]
        );
        s.set("HTTPPORT", "8080", Source::SettingsFile).unwrap();
        assert_eq!(
            s.file_servers()[1].url("96xxupgrade.txt"),
            "http://192.0.2.10:8080/phones/96xx/96xxupgrade.txt"
        );
    }

    #[test]
    fn iter_reports_sources() {
        let mut s = Settings::new();
        s.set("HTTPDIR", "fw", Source::SiteOption).unwrap();
        let got: Vec<_> = s
            .iter()
            .filter(|(n, _, _)| *n == "HTTPDIR" || *n == "SIG")
            .collect();
        assert_eq!(
            got,
            vec![
                ("HTTPDIR", "fw", Source::SiteOption),
                ("SIG", "0", Source::Default)
            ]
        );
    }
}
