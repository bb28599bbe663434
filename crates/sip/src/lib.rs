//! phonecert's SIP side: what a 9600 phone's registrar (Avaya SES / Session Manager) does,
//! built so that every byte the phone sent stays available as evidence.
//!
//! Layers, bottom up:
//! - [`message`]: lossless tokenizer (RFC 3261 §7, §25) with byte spans and findings;
//! - [`headers`]: typed, on-demand views of header values (Via, name-addr, CSeq, digest…);
//! - [`digest`]: RFC 2617 / RFC 7616 digest computation and checking;
//! - [`registrar`]: sans-IO registrar core (bytes and time in, actions and events out);
//! - [`event`]: the timeline events it reports;
//! - [`framing`]: splitting TCP/TLS streams into messages by Content-Length (RFC 3261 §18.3);
//! - [`shell`]: thin tokio shell (UDP and TCP on one port) that owns the sockets and reports
//!   I/O to the capture tap.
//!
//! Never: prints to stdout, panics on network input.

pub mod digest;
pub mod event;
pub mod framing;
pub mod headers;
pub mod message;
pub mod registrar;
pub mod shell;

pub use digest::{Algorithm, DigestCheck, DigestParam};
pub use event::{AuthSummary, ChallengeSummary, Event, Observation, RequestFinding};
pub use message::{Finding, FindingKind, Header, Message, ParseError, StartLine};
pub use registrar::{Action, Binding, Registrar, RegistrarConfig, ScriptedAnswer, Transport};
