//! The Avaya provisioning language, as a 9600-series SIP phone understands it.
//!
//! Owns: the phone's parameter store with defaults, validation and source precedence
//! ([`settings`]), the DHCP site-specific option string and option 43 ([`option242`]), the
//! upgrade-script / settings-file language and a sans-IO interpreter for it ([`script`]),
//! what one phone makes of a script and its files ([`eval`]), the models and the variables
//! they report ([`model`]), and phonecert's own reference firmware image format
//! ([`firmware`]).
//!
//! Never does: I/O of any kind (no sockets, files, clock or RNG), printing to stdout. The
//! reference phone (`simphone`) and the admin commands (`phonecert script eval`,
//! `phonecert lint`) feed it text and bytes and act on what it returns. The harness's checks
//! never depend on this crate: what a scenario expects is written in the scenario.
//!
//! Follows `domain.md` sections "DHCP", "Script language", "Firmware" and "Registration",
//! which summarise Avaya's 9600-series SIP administrator and installation guides.

pub mod eval;
pub mod firmware;
pub mod model;
pub mod option242;
pub mod script;
pub mod settings;

pub use settings::{FileServer, Rejected, Scheme, Settings, SipControllerEntry, Source, Transport};
