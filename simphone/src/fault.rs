//! Named fault switches: each one breaks exactly one behaviour of the reference phone.
//!
//! Owns the closed list of faults, their command-line names and one-line descriptions. The
//! behaviour itself lives where it belongs (DHCP, boot, registration); those places ask a
//! [`Faults`] set whether a switch is on. The conformance suite must catch every one of
//! these (design.md §2, "Reference phone").

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One deliberate misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    IgnoreOption242Httpdir,
    IgnoreOption242,
    AlwaysDownloadBinary,
    NeverDownloadBinary,
    AcceptCorruptBinary,
    SkipSettingsFile,
    IgnoreSettingsFile,
    WrongDigestResponse,
    NoAuthRetry,
    StaleUserAgentVersion,
    RegisterFirstControllerOnly,
    Option242CaseSensitiveNames,
    HttpFirstServerOnly,
    Option242StopAtMalformed,
    Option242AcceptOverlong,
    Option242FirstFragmentOnly,
    Option43WithoutMarker,
    SiaddrOverSiteOption,
    AcceptOfferWithoutLeaseTime,
    IgnoreNakOnRenewal,
    IgnoreRouter,
    RenewByBroadcast,
    SsonAlways242,
    IgnoreL2qvlan,
    DiscoverNoBackoff,
    IgnoreRetryAfter,
    IgnoreGrantedExpires,
    TrustAnySigner,
    IgnoreImageModel,
    IgnoreImageHardware,
    IgnoreImageKind,
    SkipSignatureCheck,
    SkipHashCheck,
    RetryDownloadAtOnce,
    RetryDownloadForever,
    RebootAfterRejectedImage,
    DigestMd5Only,
    NcNotIncremented,
    IgnoreStale,
    RefreshChallengeDropsRegistration,
    RetryRejectedCredentials,
    RetryAfterForbidden,
    IgnoreMinExpires,
    NoRecoveryWait,
    RetryAfterCommentUnparsed,
    TcpRetransmit,
    NewConnectionPerRequest,
    IgnoreControllerTransport,
    RefreshAfterExpiry,
    IgnoreTlssrvr,
    NoHttpFallback,
    AcceptAnyServerCert,
    IgnoreLanguages,
    BootCodeAsApplication,
    Sha2capableEveryModel,
    KeepBom,
    StopAfterMissingUpgradeScript,
    MissingLabelContinues,
    StopAfterFailedGet,
    ApplyIncompleteDownload,
    RequireContentLength,
    ModelWithoutHardware,
    GroupAlwaysZero,
    SetGroupFromSettingsFile,
    SigVariablesUnknown,
    ReadAnyFile,
    CutLongLines,
    CrlfOnly,
}

impl Fault {
    /// Every fault, in the order `--list-faults` prints them.
    pub const ALL: [Fault; 68] = [
        Fault::IgnoreOption242Httpdir,
        Fault::IgnoreOption242,
        Fault::AlwaysDownloadBinary,
        Fault::NeverDownloadBinary,
        Fault::AcceptCorruptBinary,
        Fault::SkipSettingsFile,
        Fault::IgnoreSettingsFile,
        Fault::WrongDigestResponse,
        Fault::NoAuthRetry,
        Fault::StaleUserAgentVersion,
        Fault::RegisterFirstControllerOnly,
        Fault::Option242CaseSensitiveNames,
        Fault::HttpFirstServerOnly,
        Fault::Option242StopAtMalformed,
        Fault::Option242AcceptOverlong,
        Fault::Option242FirstFragmentOnly,
        Fault::Option43WithoutMarker,
        Fault::SiaddrOverSiteOption,
        Fault::AcceptOfferWithoutLeaseTime,
        Fault::IgnoreNakOnRenewal,
        Fault::IgnoreRouter,
        Fault::RenewByBroadcast,
        Fault::SsonAlways242,
        Fault::IgnoreL2qvlan,
        Fault::DiscoverNoBackoff,
        Fault::IgnoreRetryAfter,
        Fault::IgnoreGrantedExpires,
        Fault::TrustAnySigner,
        Fault::IgnoreImageModel,
        Fault::IgnoreImageHardware,
        Fault::IgnoreImageKind,
        Fault::SkipSignatureCheck,
        Fault::SkipHashCheck,
        Fault::RetryDownloadAtOnce,
        Fault::RetryDownloadForever,
        Fault::RebootAfterRejectedImage,
        Fault::DigestMd5Only,
        Fault::NcNotIncremented,
        Fault::IgnoreStale,
        Fault::RefreshChallengeDropsRegistration,
        Fault::RetryRejectedCredentials,
        Fault::RetryAfterForbidden,
        Fault::IgnoreMinExpires,
        Fault::NoRecoveryWait,
        Fault::RetryAfterCommentUnparsed,
        Fault::TcpRetransmit,
        Fault::NewConnectionPerRequest,
        Fault::IgnoreControllerTransport,
        Fault::RefreshAfterExpiry,
        Fault::IgnoreTlssrvr,
        Fault::NoHttpFallback,
        Fault::AcceptAnyServerCert,
        Fault::IgnoreLanguages,
        Fault::BootCodeAsApplication,
        Fault::Sha2capableEveryModel,
        Fault::KeepBom,
        Fault::StopAfterMissingUpgradeScript,
        Fault::MissingLabelContinues,
        Fault::StopAfterFailedGet,
        Fault::ApplyIncompleteDownload,
        Fault::RequireContentLength,
        Fault::ModelWithoutHardware,
        Fault::GroupAlwaysZero,
        Fault::SetGroupFromSettingsFile,
        Fault::SigVariablesUnknown,
        Fault::ReadAnyFile,
        Fault::CutLongLines,
        Fault::CrlfOnly,
    ];

    /// The `--fault` name.
    pub fn name(self) -> &'static str {
        match self {
            Fault::IgnoreOption242Httpdir => "ignore-option242-httpdir",
            Fault::IgnoreOption242 => "ignore-option242",
            Fault::AlwaysDownloadBinary => "always-download-binary",
            Fault::NeverDownloadBinary => "never-download-binary",
            Fault::AcceptCorruptBinary => "accept-corrupt-binary",
            Fault::SkipSettingsFile => "skip-settings-file",
            Fault::IgnoreSettingsFile => "ignore-settings-file",
            Fault::WrongDigestResponse => "wrong-digest-response",
            Fault::NoAuthRetry => "no-auth-retry",
            Fault::StaleUserAgentVersion => "stale-user-agent-version",
            Fault::RegisterFirstControllerOnly => "register-first-controller-only",
            Fault::Option242CaseSensitiveNames => "option242-case-sensitive-names",
            Fault::HttpFirstServerOnly => "http-first-server-only",
            Fault::Option242StopAtMalformed => "option242-stop-at-malformed",
            Fault::Option242AcceptOverlong => "option242-accept-overlong",
            Fault::Option242FirstFragmentOnly => "option242-first-fragment-only",
            Fault::Option43WithoutMarker => "option43-without-marker",
            Fault::SiaddrOverSiteOption => "siaddr-over-site-option",
            Fault::AcceptOfferWithoutLeaseTime => "accept-offer-without-lease-time",
            Fault::IgnoreNakOnRenewal => "ignore-nak-on-renewal",
            Fault::IgnoreRouter => "ignore-router",
            Fault::RenewByBroadcast => "renew-by-broadcast",
            Fault::SsonAlways242 => "sson-always-242",
            Fault::IgnoreL2qvlan => "ignore-l2qvlan",
            Fault::DiscoverNoBackoff => "discover-no-backoff",
            Fault::IgnoreRetryAfter => "ignore-retry-after",
            Fault::IgnoreGrantedExpires => "ignore-granted-expires",
            Fault::TrustAnySigner => "trust-any-signer",
            Fault::IgnoreImageModel => "ignore-image-model",
            Fault::IgnoreImageHardware => "ignore-image-hardware",
            Fault::IgnoreImageKind => "ignore-image-kind",
            Fault::SkipSignatureCheck => "skip-signature-check",
            Fault::SkipHashCheck => "skip-hash-check",
            Fault::RetryDownloadAtOnce => "retry-download-at-once",
            Fault::RetryDownloadForever => "retry-download-forever",
            Fault::RebootAfterRejectedImage => "reboot-after-rejected-image",
            Fault::DigestMd5Only => "digest-md5-only",
            Fault::NcNotIncremented => "nc-not-incremented",
            Fault::IgnoreStale => "ignore-stale",
            Fault::RefreshChallengeDropsRegistration => "refresh-401-drops-registration",
            Fault::RetryRejectedCredentials => "retry-rejected-credentials",
            Fault::RetryAfterForbidden => "retry-after-403",
            Fault::IgnoreMinExpires => "ignore-min-expires",
            Fault::NoRecoveryWait => "no-recovery-wait",
            Fault::RetryAfterCommentUnparsed => "retry-after-comment-unparsed",
            Fault::TcpRetransmit => "tcp-retransmit",
            Fault::NewConnectionPerRequest => "new-connection-per-request",
            Fault::IgnoreControllerTransport => "ignore-controller-transport",
            Fault::RefreshAfterExpiry => "refresh-after-expiry",
            Fault::IgnoreTlssrvr => "ignore-tlssrvr",
            Fault::NoHttpFallback => "no-http-fallback",
            Fault::AcceptAnyServerCert => "accept-any-server-cert",
            Fault::IgnoreLanguages => "ignore-languages",
            Fault::BootCodeAsApplication => "boot-code-as-application",
            Fault::Sha2capableEveryModel => "sha2capable-every-model",
            Fault::KeepBom => "keep-bom",
            Fault::StopAfterMissingUpgradeScript => "stop-after-missing-upgrade-script",
            Fault::MissingLabelContinues => "missing-label-continues",
            Fault::StopAfterFailedGet => "stop-after-failed-get",
            Fault::ApplyIncompleteDownload => "apply-incomplete-download",
            Fault::RequireContentLength => "require-content-length",
            Fault::ModelWithoutHardware => "model-without-hardware",
            Fault::GroupAlwaysZero => "group-always-zero",
            Fault::SetGroupFromSettingsFile => "set-group-from-settings-file",
            Fault::SigVariablesUnknown => "sig-variables-unknown",
            Fault::ReadAnyFile => "read-any-file",
            Fault::CutLongLines => "cut-long-lines",
            Fault::CrlfOnly => "crlf-only",
        }
    }

    /// What the fault breaks, one line.
    pub fn description(self) -> &'static str {
        match self {
            Fault::IgnoreOption242Httpdir => {
                "ignores HTTPDIR (from any source) and fetches every file from the server root"
            }
            Fault::IgnoreOption242 => {
                "ignores the site-specific DHCP option entirely (only siaddr/option 66 count)"
            }
            Fault::AlwaysDownloadBinary => {
                "downloads the binary even when APPNAME equals the running application"
            }
            Fault::NeverDownloadBinary => "never downloads the binary, even when APPNAME differs",
            Fault::AcceptCorruptBinary => {
                "installs a downloaded binary without verifying model, hash or signature"
            }
            Fault::SkipSettingsFile => {
                "never GETs a file named by the upgrade script (treats every GET as failed)"
            }
            Fault::IgnoreSettingsFile => {
                "GETs the settings file but does not apply any of its SET lines"
            }
            Fault::WrongDigestResponse => {
                "answers digest challenges with a wrong response value (wrong password hash)"
            }
            Fault::NoAuthRetry => {
                "gives up on a controller after a 401/407 instead of authenticating"
            }
            Fault::StaleUserAgentVersion => {
                "keeps reporting the first-boot firmware version in SIP and HTTP User-Agent after an upgrade"
            }
            Fault::RegisterFirstControllerOnly => {
                "registers only with the first SIP_CONTROLLER_LIST entry (no failover)"
            }
            Fault::Option242CaseSensitiveNames => {
                "treats site-option names that are not all upper-case (httpsrvr=…) as unknown"
            }
            Fault::HttpFirstServerOnly => {
                "tries only the first HTTPSRVR of a list, never the next when it does not answer"
            }
            Fault::Option242StopAtMalformed => {
                "stops applying the site option at its first malformed pair (later good pairs lost)"
            }
            Fault::Option242AcceptOverlong => {
                "applies site-option values over 255 characters (cut to 255) instead of ignoring them"
            }
            Fault::Option242FirstFragmentOnly => {
                "reads only the first instance of a split site option (no RFC 3396 concatenation)"
            }
            Fault::Option43WithoutMarker => {
                "applies option 43 sub-options 2-15 even without the 6889 marker in sub-option 1"
            }
            Fault::SiaddrOverSiteOption => {
                "lets siaddr / option 66 override the site option's HTTPSRVR"
            }
            Fault::AcceptOfferWithoutLeaseTime => {
                "accepts a DHCPOFFER without option 51 (lease time) and requests it"
            }
            Fault::IgnoreRouter => {
                "ignores the router (option 3): no default route, so nothing off its own subnet is reachable"
            }
            Fault::RenewByBroadcast => {
                "renews at T1 by broadcast (through a relay agent) instead of unicast to the server identifier"
            }
            Fault::IgnoreNakOnRenewal => {
                "ignores a DHCPNAK while renewing/rebinding and keeps using the address"
            }
            Fault::SsonAlways242 => "asks for and reads option 242 whatever --sson says",
            Fault::IgnoreL2qvlan => {
                "ignores L2QVLAN from DHCP: no release, no tagged DHCP, stays untagged"
            }
            Fault::DiscoverNoBackoff => {
                "retransmits DHCPDISCOVER every 4 s (±1 s) instead of doubling the wait each time"
            }
            Fault::IgnoreRetryAfter => {
                "treats 503 with Retry-After like a 503 without it: the next controller, or its own back-off"
            }
            Fault::IgnoreGrantedExpires => {
                "schedules the refresh from the Expires it asked for, not the shorter one granted"
            }
            Fault::TrustAnySigner => {
                "installs firmware signed by any key: the signer-trusted check is skipped"
            }
            Fault::IgnoreImageModel => {
                "installs firmware built for another model: the model check is skipped"
            }
            Fault::IgnoreImageHardware => {
                "installs firmware built for another hardware version: the hardware check is skipped"
            }
            Fault::IgnoreImageKind => {
                "installs a boot-code image as the application: the image-kind check is skipped"
            }
            Fault::SkipSignatureCheck => {
                "installs firmware whose signature does not verify: the signature check is skipped"
            }
            Fault::SkipHashCheck => {
                "installs firmware whose payload does not match the signed SHA-256: the hash check is skipped"
            }
            Fault::RetryDownloadAtOnce => {
                "retries a failed firmware download at once instead of waiting between attempts"
            }
            Fault::RetryDownloadForever => {
                "retries a failed firmware download without end instead of giving up after three attempts"
            }
            Fault::RebootAfterRejectedImage => {
                "reboots after refusing a firmware image, so every boot downloads it again (a boot loop)"
            }
            Fault::DigestMd5Only => {
                "answers only MD5 digest challenges: a SHA-256 challenge is unusable to it (no RFC 8760)"
            }
            Fault::NcNotIncremented => {
                "reuses a nonce on a refresh with the nc it last sent instead of counting up (RFC 7616 §3.4)"
            }
            Fault::IgnoreStale => {
                "takes a 401 with stale=true after its credentials as a rejection instead of answering the new nonce"
            }
            Fault::RefreshChallengeDropsRegistration => {
                "takes a 401 to a refresh that carried credentials as a rejection instead of answering the new challenge"
            }
            Fault::RetryRejectedCredentials => {
                "retries credentials the registrar rejected (401 again without stale) on its recovery timer"
            }
            Fault::RetryAfterForbidden => {
                "takes a 403 as an ordinary failure and tries the same controller again after its recovery wait"
            }
            Fault::IgnoreMinExpires => {
                "takes 423 Interval Too Brief as an ordinary failure and retries later with the same Expires"
            }
            Fault::NoRecoveryWait => {
                "after a failure on the last controller tries again 1 s later instead of 50-90 % of RECOVERYREGISTERWAIT"
            }
            Fault::RetryAfterCommentUnparsed => {
                "reads Retry-After only when it is a bare number: `300 (maintenance)` counts as none"
            }
            Fault::TcpRetransmit => {
                "retransmits REGISTER over TCP on Timer E as if TCP were unreliable"
            }
            Fault::NewConnectionPerRequest => {
                "sends every REGISTER over TCP or TLS on a new connection, leaving the one already open unused"
            }
            Fault::IgnoreControllerTransport => {
                "registers over UDP whatever ;transport= the controller entry names"
            }
            Fault::RefreshAfterExpiry => {
                "refreshes a registration 10 % after the granted expiry instead of before it"
            }
            Fault::IgnoreTlssrvr => {
                "never tries HTTPS: TLSSRVR is ignored and every file comes over HTTP"
            }
            Fault::NoHttpFallback => "after HTTPS fails for a file, does not try HTTP for it",
            Fault::AcceptAnyServerCert => {
                "accepts any HTTPS server certificate (self-signed, expired, wrong name) without checking it"
            }
            Fault::IgnoreLanguages => "never fetches the language files SET LANGUAGES names",
            Fault::BootCodeAsApplication => {
                "treats an APPNAME naming boot code (hb…) as an application: compares it with the running application and never installs it as boot code"
            }
            Fault::Sha2capableEveryModel => {
                "reports $SHA2CAPABLE=1 whatever its model (96x0 included)"
            }
            Fault::KeepBom => {
                "reads scripts byte for byte as ISO-8859-1: a UTF-8 byte order mark turns line 1 into a comment"
            }
            Fault::StopAfterMissingUpgradeScript => {
                "after a 404 (or no answer) on the upgrade script, fetches nothing more and never registers"
            }
            Fault::MissingLabelContinues => {
                "skips a GOTO (or IF … GOTO) to a label the file does not have instead of ending the file there"
            }
            Fault::StopAfterFailedGet => {
                "a GET the script names that is not delivered (404, 5xx, cut, no answer) ends the boot: the phone never registers"
            }
            Fault::ApplyIncompleteDownload => {
                "takes a body cut short of its Content-Length as the whole file and applies what arrived"
            }
            Fault::RequireContentLength => {
                "throws away a 200 whose body ends at the close (no Content-Length, not chunked)"
            }
            Fault::ModelWithoutHardware => {
                "reports $MODEL as MODEL4 alone (9620), without the hardware version"
            }
            Fault::GroupAlwaysZero => "reports $GROUP as 0 whatever was entered at the phone",
            Fault::SetGroupFromSettingsFile => {
                "takes SET GROUP from a script or settings file, although GROUP is set only at the phone"
            }
            Fault::SigVariablesUnknown => {
                "does not know $SIG and $SIG_IN_USE: an IF on either is a no-op"
            }
            Fault::ReadAnyFile => {
                "reads a script or settings file of any size or content as text (no 1 MiB limit, NUL bytes kept)"
            }
            Fault::CutLongLines => {
                "reads the first 4096 bytes of an over-long line as a statement instead of ignoring the line"
            }
            Fault::CrlfOnly => {
                "ends a script line only at CRLF: a bare LF joins two lines (an LF file is one comment)"
            }
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown `--fault` name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault '{0}' (see --list-faults)")]
pub struct UnknownFault(pub String);

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::ALL
            .iter()
            .copied()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownFault(s.to_string()))
    }
}

/// The set of faults switched on for one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults(BTreeSet<Fault>);

impl Faults {
    /// No faults: the conforming phone.
    pub fn none() -> Self {
        Self::default()
    }

    /// A set with exactly these faults.
    pub fn from_list(list: &[Fault]) -> Self {
        Self(list.iter().copied().collect())
    }

    /// Whether `fault` is switched on.
    pub fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    /// The faults switched on, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = Fault> + '_ {
        self.0.iter().copied()
    }
}

/// The `--list-faults` text: one line per fault, `name — what it breaks`.
pub fn list_text() -> String {
    Fault::ALL
        .iter()
        .map(|f| format!("{} — {}\n", f.name(), f.description()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_fault_and_is_listed() {
        let text = list_text();
        for f in Fault::ALL {
            assert_eq!(f.name().parse::<Fault>(), Ok(f));
            assert!(text.contains(&format!("{} — ", f.name())));
        }
        assert_eq!(text.lines().count(), Fault::ALL.len());
        assert_eq!(
            "no-such-fault".parse::<Fault>(),
            Err(UnknownFault("no-such-fault".into()))
        );
    }

    #[test]
    fn a_set_reports_only_what_was_switched_on() {
        let set = Faults::from_list(&[Fault::NoAuthRetry]);
        assert!(set.has(Fault::NoAuthRetry));
        assert!(!set.has(Fault::WrongDigestResponse));
        assert!(!Faults::none().has(Fault::NoAuthRetry));
    }
}
