//! phonecert's own reference firmware image format, for the reference phone (`simphone`).
//!
//! Owns: building, parsing and verifying images, one named [`Check`] at a time; the lab
//! signing key; reading a version out of an Avaya-style application file name; model family
//! matching.
//!
//! Never does: touch real Avaya images (a real phone gets real images supplied by the user,
//! and the harness corrupts those generically), read files (callers hand it bytes, or a
//! header's bytes and a payload digest they computed while streaming), or keep keys secret —
//! the lab key is derived from a public seed and is a **test key**.
//!
//! Follows domain.md "Firmware": a real phone checks the signer against the root it trusts,
//! then the model/hardware match, then the package signature, then the package's integrity,
//! and on any failure deletes the download and keeps running the old firmware. [`Check::ORDER`]
//! is that order: signer trusted, model, hardware, image kind (application or boot code),
//! signature, hash. The header comes first and is signed as a whole, payload digest
//! included, so a phone (or `phonecert firmware inspect`) can judge the header before the
//! payload arrives, and a payload damaged after signing fails the hash check alone.
//!
//! # Byte layout (format version 2, all lengths big-endian)
//!
//! ```text
//! offset  size  field
//! 0       4     magic "PCFW"
//! 4       1     format version = 2
//! 5       1     kind: 0 application, 1 boot code
//! 6       32    signer: the Ed25519 public key that signed the header
//! 38      2+M   model list, UTF-8, comma-separated: "9620,9630" or a family "96x0"
//! …       2+H   hardware versions, UTF-8, comma-separated: "D01A,D01B", or "*" for any
//! …       2+V   version, UTF-8: "2.6.1.0"
//! …       2+A   application name, UTF-8: "S96x0_SALBR2_6_1_0.bin"
//! …       8     P: payload length
//! …       32    SHA-256 of the payload
//! …       64    Ed25519 signature of every header byte before this field
//! …       P     payload
//! ```
//! Nothing may follow the payload. Text fields longer than 65535 bytes are cut by
//! [`build`] (they never are in practice).

use std::fmt;

/// The key type images are signed with (re-exported so callers need no ed25519 dependency).
pub use ed25519_dalek::SigningKey;
pub use ed25519_dalek::VerifyingKey;
use ed25519_dalek::{Signature, Signer};
use sha2::{Digest, Sha256};

/// The first four bytes of every image.
pub const MAGIC: &[u8; 4] = b"PCFW";
/// The only format version this module reads and writes.
pub const FORMAT_VERSION: u8 = 2;
const KEY_LEN: usize = 32;
const DIGEST_LEN: usize = 32;
const SIGNATURE_LEN: usize = 64;
/// The longest header there can be: fixed fields plus four text fields of 65535 bytes. A
/// reader that streams an image reads at most this much before it knows the header.
pub const MAX_HEADER_LEN: usize =
    4 + 1 + 1 + KEY_LEN + 4 * (2 + 65_535) + 8 + DIGEST_LEN + SIGNATURE_LEN;

/// What an image is for: the phone's application or its boot code (Avaya's APPNAME and
/// BOOTNAME). A phone asked to install an application refuses boot code, and the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    Application,
    BootCode,
}

impl ImageKind {
    fn byte(self) -> u8 {
        match self {
            ImageKind::Application => 0,
            ImageKind::BootCode => 1,
        }
    }

    /// `application` or `boot_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageKind::Application => "application",
            ImageKind::BootCode => "boot_code",
        }
    }
}

impl fmt::Display for ImageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One verification step, in the order a phone makes them ([`Check::ORDER`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// The key that signed the image is one the phone trusts.
    Signer,
    /// The image names the phone's model.
    Model,
    /// The image names the phone's hardware version.
    Hardware,
    /// The image is the kind being installed (application, not boot code).
    Kind,
    /// The signature over the header verifies with the signer's key.
    Signature,
    /// The payload's SHA-256 is the one the signed header carries.
    Hash,
}

impl Check {
    /// The documented order (domain.md "Firmware").
    pub const ORDER: [Check; 6] = [
        Check::Signer,
        Check::Model,
        Check::Hardware,
        Check::Kind,
        Check::Signature,
        Check::Hash,
    ];

    /// Stable name: `signer`, `model`, `hardware`, `kind`, `signature`, `hash`.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Signer => "signer",
            Check::Model => "model",
            Check::Hardware => "hardware",
            Check::Kind => "kind",
            Check::Signature => "signature",
            Check::Hash => "hash",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an image's header says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: ImageKind,
    /// The signer's Ed25519 public key.
    pub signer: [u8; KEY_LEN],
    /// Model entries: exact (`9620`) or family patterns (`96x0`).
    pub models: Vec<String>,
    /// Hardware versions (`D01A`), or `*` for any.
    pub hardware: Vec<String>,
    /// Version string, e.g. `2.6.1.0`.
    pub version: String,
    /// Application name, e.g. `S96x0_SALBR2_6_1_0.bin`.
    pub app_name: String,
    pub payload_len: u64,
    /// The payload's SHA-256 as the header states it.
    pub payload_digest: [u8; DIGEST_LEN],
    pub signature: [u8; SIGNATURE_LEN],
    /// Bytes of header, hence the payload's offset.
    pub len: usize,
    /// Bytes the signature covers (the header up to the signature).
    pub signed_len: usize,
}

/// The phone an image is verified for.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// MODEL4, e.g. `9620`.
    pub model4: &'a str,
    /// Hardware version, e.g. `D01A`.
    pub hardware: &'a str,
    /// What is being installed.
    pub kind: ImageKind,
    /// The signers the phone trusts.
    pub trusted: &'a [VerifyingKey],
}

/// Why an image was refused. Each variant names one reason a phone would give; those that a
/// [`Check`] finds say which ([`FirmwareError::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FirmwareError {
    #[error(
        "image truncated in {field} at offset {offset}: needs {needed} bytes, {available} left"
    )]
    Truncated {
        field: &'static str,
        offset: u64,
        needed: u64,
        available: u64,
    },
    #[error("not a phonecert image: bad magic")]
    BadMagic,
    #[error("unsupported image format version {0}")]
    UnsupportedFormat(u8),
    #[error("unknown image kind {0}")]
    UnknownKind(u8),
    #[error("{field} is not valid utf-8")]
    BadText { field: &'static str },
    #[error("image names no model")]
    NoModels,
    #[error("image names no hardware version")]
    NoHardware,
    #[error("{extra} unexpected byte(s) after the payload")]
    TrailingBytes { extra: u64 },
    #[error("signer {signer} is not a trusted key")]
    UntrustedSigner { signer: String },
    #[error("image is for {image_models:?}, not for model {model}")]
    WrongModel {
        model: String,
        image_models: Vec<String>,
    },
    #[error("image is for hardware {image_hardware:?}, not for {hardware}")]
    WrongHardware {
        hardware: String,
        image_hardware: Vec<String>,
    },
    #[error("image is {image}, not {wanted}")]
    WrongKind { wanted: ImageKind, image: ImageKind },
    #[error("signature does not verify with the signer's key")]
    BadSignature,
    #[error("sha-256 of the payload does not match the signed header")]
    DigestMismatch,
}

impl FirmwareError {
    /// The verification step that found this, if one did (the rest are structural: the
    /// image cannot be read at all).
    pub fn check(&self) -> Option<Check> {
        match self {
            FirmwareError::UntrustedSigner { .. } => Some(Check::Signer),
            FirmwareError::WrongModel { .. } => Some(Check::Model),
            FirmwareError::WrongHardware { .. } => Some(Check::Hardware),
            FirmwareError::WrongKind { .. } => Some(Check::Kind),
            FirmwareError::BadSignature => Some(Check::Signature),
            FirmwareError::DigestMismatch => Some(Check::Hash),
            _ => None,
        }
    }
}

/// A cursor that never reads past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], FirmwareError> {
        let available = self.bytes.len() - self.pos;
        if n > available {
            return Err(FirmwareError::Truncated {
                field,
                offset: self.pos as u64,
                needed: n as u64,
                available: available as u64,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], FirmwareError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn text(
        &mut self,
        field: &'static str,
        len_field: &'static str,
    ) -> Result<String, FirmwareError> {
        let len = u16::from_be_bytes(self.array(len_field)?);
        let raw = self.take(usize::from(len), field)?;
        String::from_utf8(raw.to_vec()).map_err(|_| FirmwareError::BadText { field })
    }
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect()
}

/// Read an image's header from its first bytes (the whole image, or at least
/// [`MAX_HEADER_LEN`] bytes of it, or all of a shorter one). Checks nothing beyond the
/// structure: signer, model, signature and hash are [`check`]'s.
pub fn parse_header(prefix: &[u8]) -> Result<Header, FirmwareError> {
    let head = &prefix[..prefix.len().min(MAGIC.len())];
    if head != &MAGIC[..head.len()] {
        return Err(FirmwareError::BadMagic);
    }
    let mut r = Reader {
        bytes: prefix,
        pos: 0,
    };
    r.take(MAGIC.len(), "magic")?;
    let [format] = r.array::<1>("format version")?;
    if format != FORMAT_VERSION {
        return Err(FirmwareError::UnsupportedFormat(format));
    }
    let [kind] = r.array::<1>("kind")?;
    let kind = match kind {
        0 => ImageKind::Application,
        1 => ImageKind::BootCode,
        other => return Err(FirmwareError::UnknownKind(other)),
    };
    let signer = r.array::<KEY_LEN>("signer")?;
    let models = list(&r.text("model list", "model list length")?);
    let hardware = list(&r.text("hardware list", "hardware list length")?);
    let version = r.text("version", "version length")?;
    let app_name = r.text("application name", "application name length")?;
    let payload_len = u64::from_be_bytes(r.array("payload length")?);
    let payload_digest = r.array::<DIGEST_LEN>("payload digest")?;
    let signed_len = r.pos;
    let signature = r.array::<SIGNATURE_LEN>("signature")?;
    if models.is_empty() {
        return Err(FirmwareError::NoModels);
    }
    if hardware.is_empty() {
        return Err(FirmwareError::NoHardware);
    }
    Ok(Header {
        kind,
        signer,
        models,
        hardware,
        version,
        app_name,
        payload_len,
        payload_digest,
        signature,
        len: r.pos,
        signed_len,
    })
}

/// Whether an image of `total` bytes holds exactly the payload its header declares.
pub fn check_length(header: &Header, total: u64) -> Result<(), FirmwareError> {
    let available = total.saturating_sub(header.len as u64);
    match available.cmp(&header.payload_len) {
        std::cmp::Ordering::Less => Err(FirmwareError::Truncated {
            field: "payload",
            offset: header.len as u64,
            needed: header.payload_len,
            available,
        }),
        std::cmp::Ordering::Greater => Err(FirmwareError::TrailingBytes {
            extra: available - header.payload_len,
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// One verification step. `signed` is the image's first [`Header::signed_len`] bytes (for
/// [`Check::Signature`]); `payload_digest` the SHA-256 of the payload as received (for
/// [`Check::Hash`]; a streaming reader computes it as the bytes pass).
pub fn check(
    step: Check,
    header: &Header,
    signed: &[u8],
    payload_digest: &[u8; DIGEST_LEN],
    target: &Target<'_>,
) -> Result<(), FirmwareError> {
    match step {
        Check::Signer => {
            if target
                .trusted
                .iter()
                .any(|k| k.as_bytes() == &header.signer)
            {
                Ok(())
            } else {
                Err(FirmwareError::UntrustedSigner {
                    signer: hex::encode(header.signer),
                })
            }
        }
        Check::Model => {
            if header
                .models
                .iter()
                .any(|m| model_matches(target.model4, m))
            {
                Ok(())
            } else {
                Err(FirmwareError::WrongModel {
                    model: target.model4.to_string(),
                    image_models: header.models.clone(),
                })
            }
        }
        Check::Hardware => {
            let fits = header
                .hardware
                .iter()
                .any(|h| h == "*" || h.eq_ignore_ascii_case(target.hardware.trim()));
            if fits {
                Ok(())
            } else {
                Err(FirmwareError::WrongHardware {
                    hardware: target.hardware.to_string(),
                    image_hardware: header.hardware.clone(),
                })
            }
        }
        Check::Kind => {
            if header.kind == target.kind {
                Ok(())
            } else {
                Err(FirmwareError::WrongKind {
                    wanted: target.kind,
                    image: header.kind,
                })
            }
        }
        Check::Signature => {
            let key = VerifyingKey::from_bytes(&header.signer)
                .map_err(|_| FirmwareError::BadSignature)?;
            let covered = signed
                .get(..header.signed_len)
                .ok_or(FirmwareError::BadSignature)?;
            key.verify_strict(covered, &Signature::from_bytes(&header.signature))
                .map_err(|_| FirmwareError::BadSignature)
        }
        Check::Hash => {
            if *payload_digest == header.payload_digest {
                Ok(())
            } else {
                Err(FirmwareError::DigestMismatch)
            }
        }
    }
}

/// Verify a whole image for `target`: its structure, then every [`Check`] in
/// [`Check::ORDER`] except those `skip` names (a phone with a broken check). The first
/// failure is the answer. Never panics.
pub fn verify_skipping(
    image: &[u8],
    target: &Target<'_>,
    skip: impl Fn(Check) -> bool,
) -> Result<Header, FirmwareError> {
    let header = parse_header(image)?;
    check_length(&header, image.len() as u64)?;
    let payload = &image[header.len..];
    let digest = sha256(payload);
    for step in Check::ORDER {
        if !skip(step) {
            check(step, &header, image, &digest, target)?;
        }
    }
    Ok(header)
}

/// Verify a whole image for `target`, every check in order.
pub fn verify(image: &[u8], target: &Target<'_>) -> Result<Header, FirmwareError> {
    verify_skipping(image, target, |_| false)
}

/// What an image is built as.
#[derive(Debug, Clone, Copy)]
pub struct ImageSpec<'a> {
    pub kind: ImageKind,
    pub models: &'a [&'a str],
    /// Hardware versions, or `["*"]` for any.
    pub hardware: &'a [&'a str],
    pub version: &'a str,
    pub app_name: &'a str,
}

fn push_text(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let len = u16::try_from(end).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

/// The signed header of an image whose payload is `payload_len` bytes with SHA-256
/// `payload_digest`: what goes before the payload. Lets a caller build an image of any size
/// by streaming the payload twice (once to hash it, once to copy it).
pub fn build_header(
    spec: &ImageSpec<'_>,
    payload_len: u64,
    payload_digest: [u8; DIGEST_LEN],
    key: &SigningKey,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    out.push(spec.kind.byte());
    out.extend_from_slice(key.verifying_key().as_bytes());
    push_text(&mut out, &spec.models.join(","));
    push_text(&mut out, &spec.hardware.join(","));
    push_text(&mut out, spec.version);
    push_text(&mut out, spec.app_name);
    out.extend_from_slice(&payload_len.to_be_bytes());
    out.extend_from_slice(&payload_digest);
    let signature = key.sign(&out);
    out.extend_from_slice(&signature.to_bytes());
    out
}

/// Build a signed image.
pub fn build(spec: &ImageSpec<'_>, payload: &[u8], key: &SigningKey) -> Vec<u8> {
    let mut out = build_header(spec, payload.len() as u64, sha256(payload), key);
    out.extend_from_slice(payload);
    out
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; DIGEST_LEN] {
    Sha256::digest(bytes).into()
}

/// SHA-256 of a payload that passes in pieces (a file streamed from disk, a download).
#[derive(Debug, Clone, Default)]
pub struct StreamDigest(Sha256);

impl StreamDigest {
    pub fn new() -> StreamDigest {
        StreamDigest::default()
    }

    pub fn update(&mut self, piece: &[u8]) {
        self.0.update(piece);
    }

    pub fn finish(self) -> [u8; DIGEST_LEN] {
        self.0.finalize().into()
    }
}

/// Byte `i` of the deterministic filler payload test images carry when no payload is given:
/// the same size gives the same bytes on every machine and run.
pub fn filler_byte(i: u64) -> u8 {
    (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0]
}

/// The public seed of the lab key. Anyone can sign "lab" images with it: it proves nothing
/// beyond "built by phonecert", which is all the reference phone needs.
const LAB_KEY_SEED: &[u8] =
    b"phonecert lab firmware signing key v1 -- public test key, not a secret";

/// The lab signing key, derived as SHA-256 of a fixed public seed. A test key, not secret.
pub fn lab_signing_key() -> SigningKey {
    SigningKey::from_bytes(&sha256(LAB_KEY_SEED))
}

/// The version in an Avaya-style application name: `S96x0_SALBR2_6_1_0.bin` → `2.6.1.0`.
///
/// Rule: drop the extension (text after the last `.`), then find the last `R` (either case)
/// followed only by at least two groups of digits separated by `_` up to the end of the
/// name; the groups joined with `.` are the version. `None` when no such `R` exists.
pub fn version_from_appname(app_name: &str) -> Option<String> {
    let stem = match app_name.rfind('.') {
        Some(dot) => &app_name[..dot],
        None => app_name,
    };
    for (i, c) in stem.char_indices().rev() {
        if c != 'R' && c != 'r' {
            continue;
        }
        let groups: Vec<&str> = stem[i + 1..].split('_').collect();
        if groups.len() >= 2
            && groups
                .iter()
                .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
        {
            return Some(groups.join("."));
        }
    }
    None
}

/// Whether `model4` matches an image's model `entry`: exactly (`9620`), or a family pattern
/// where `x`/`X` stands for any one digit (`96x0` matches 9620…9650, `96x1` 9608…9641 do not).
/// Letters compare case-insensitively; lengths must be equal.
pub fn model_matches(model4: &str, entry: &str) -> bool {
    let (m, e) = (model4.trim().as_bytes(), entry.trim().as_bytes());
    !e.is_empty()
        && m.len() == e.len()
        && m.iter().zip(e).all(|(&mc, &ec)| {
            if ec == b'x' || ec == b'X' {
                mc.is_ascii_digit()
            } else {
                mc.eq_ignore_ascii_case(&ec)
            }
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const APP: &str = "S96x0_SALBR2_6_1_0.bin";

    fn spec<'a>(models: &'a [&'a str], hardware: &'a [&'a str]) -> ImageSpec<'a> {
        ImageSpec {
            kind: ImageKind::Application,
            models,
            hardware,
            version: "2.6.1.0",
            app_name: APP,
        }
    }

    fn image() -> Vec<u8> {
        build(
            &spec(&["9620", "9630"], &["D01A", "D01B"]),
            b"payload!",
            &lab_signing_key(),
        )
    }

    fn lab() -> [VerifyingKey; 1] {
        [lab_signing_key().verifying_key()]
    }

    fn phone(keys: &[VerifyingKey]) -> Target<'_> {
        Target {
            model4: "9620",
            hardware: "D01A",
            kind: ImageKind::Application,
            trusted: keys,
        }
    }

    fn refused(img: &[u8]) -> Option<Check> {
        verify(img, &phone(&lab())).unwrap_err().check()
    }

    #[test]
    fn golden_layout() {
        let key = lab_signing_key();
        let img = build(&spec(&["96x0"], &["*"]), b"xyz", &key);
        let mut header = b"PCFW\x02\x00".to_vec();
        header.extend_from_slice(key.verifying_key().as_bytes());
        header.extend_from_slice(
            b"\x00\x0496x0\x00\x01*\x00\x072.6.1.0\x00\x16S96x0_SALBR2_6_1_0.bin",
        );
        header.extend_from_slice(&3u64.to_be_bytes());
        header.extend_from_slice(&sha256(b"xyz"));
        assert_eq!(&img[..header.len()], &header[..]);
        assert_eq!(img.len(), header.len() + 64 + 3);
        assert_eq!(&img[img.len() - 3..], b"xyz");
        let h = parse_header(&img).unwrap();
        assert_eq!((h.signed_len, h.len), (header.len(), header.len() + 64));
        // The lab key is stable: images built today verify tomorrow.
        assert_eq!(
            hex::encode(key.verifying_key().to_bytes()),
            hex::encode(
                SigningKey::from_bytes(&sha256(LAB_KEY_SEED))
                    .verifying_key()
                    .to_bytes()
            )
        );
    }

    #[test]
    fn round_trip() {
        let h = verify(&image(), &phone(&lab())).unwrap();
        assert_eq!(h.models, ["9620", "9630"]);
        assert_eq!(h.hardware, ["D01A", "D01B"]);
        assert_eq!((h.version.as_str(), h.app_name.as_str()), ("2.6.1.0", APP));
        assert_eq!((h.payload_len, h.kind), (8, ImageKind::Application));
        // The header alone parses from a prefix, as a streaming reader sees it.
        assert_eq!(parse_header(&image()[..h.len]).unwrap(), h);
    }

    #[test]
    fn each_defect_is_found_by_its_own_check() {
        let key = lab_signing_key();
        let mut flipped = image();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        assert_eq!(refused(&flipped), Some(Check::Hash));

        let mut bad_sig = image();
        let at = parse_header(&bad_sig).unwrap().signed_len + 5;
        bad_sig[at] ^= 0x80;
        assert_eq!(refused(&bad_sig), Some(Check::Signature));

        // A header changed after signing: the signature no longer covers it.
        let mut renamed = image();
        let at = renamed.windows(4).position(|w| w == b"9620").unwrap();
        renamed[at + 3] = b'1';
        assert_eq!(
            verify(
                &renamed,
                &Target {
                    model4: "9621",
                    ..phone(&lab())
                }
            )
            .unwrap_err()
            .check(),
            Some(Check::Signature)
        );

        let other = SigningKey::from_bytes(&[9; 32]);
        let foreign = build(&spec(&["9620"], &["*"]), b"p", &other);
        assert_eq!(refused(&foreign), Some(Check::Signer));
        assert!(verify(&foreign, &phone(&[other.verifying_key()])).is_ok());

        let model = build(&spec(&["96x1"], &["*"]), b"p", &key);
        assert_eq!(refused(&model), Some(Check::Model));
        let hardware = build(&spec(&["9620"], &["D02A"]), b"p", &key);
        assert_eq!(refused(&hardware), Some(Check::Hardware));
        let boot = build(
            &ImageSpec {
                kind: ImageKind::BootCode,
                ..spec(&["9620"], &["*"])
            },
            b"p",
            &key,
        );
        assert_eq!(refused(&boot), Some(Check::Kind));
    }

    #[test]
    fn checks_run_in_the_documented_order_and_can_be_skipped() {
        // Untrusted signer, wrong model, wrong hardware, boot code, and a flipped payload:
        // the signer check answers first; skipping each in turn reveals the next.
        let other = SigningKey::from_bytes(&[9; 32]);
        let mut img = build(
            &ImageSpec {
                kind: ImageKind::BootCode,
                ..spec(&["96x1"], &["D09Z"])
            },
            b"payload",
            &other,
        );
        let last = img.len() - 1;
        img[last] ^= 1;
        let keys = lab();
        let mut skipped = Vec::new();
        let mut seen = Vec::new();
        loop {
            let r = verify_skipping(&img, &phone(&keys), |c| skipped.contains(&c));
            match r {
                Err(e) => {
                    let c = e.check().unwrap();
                    seen.push(c);
                    skipped.push(c);
                }
                Ok(_) => break,
            }
        }
        // The signature verifies with the (untrusted) signer's own key, so it is not among
        // the failures.
        assert_eq!(
            seen,
            [
                Check::Signer,
                Check::Model,
                Check::Hardware,
                Check::Kind,
                Check::Hash
            ]
        );
    }

    #[test]
    fn family_and_any_hardware_match() {
        let key = lab_signing_key();
        let keys = lab();
        let family = build(&spec(&["96x0"], &["*"]), b"p", &key);
        assert!(
            verify(
                &family,
                &Target {
                    model4: "9650",
                    ..phone(&keys)
                }
            )
            .is_ok()
        );
        assert!(
            verify(
                &family,
                &Target {
                    model4: "9608",
                    ..phone(&keys)
                }
            )
            .is_err()
        );
        let rev = build(&spec(&["9620"], &["d01a"]), b"p", &key);
        assert!(verify(&rev, &phone(&keys)).is_ok());
    }

    #[test]
    fn structural_errors() {
        let keys = lab();
        let target = phone(&keys);
        let img = image();
        assert_eq!(verify(b"MZ\x90\x00", &target), Err(FirmwareError::BadMagic));
        assert_eq!(
            verify(b"", &target).unwrap_err(),
            FirmwareError::Truncated {
                field: "magic",
                offset: 0,
                needed: 4,
                available: 0
            }
        );
        let mut v1 = img.clone();
        v1[4] = 1;
        assert_eq!(
            verify(&v1, &target),
            Err(FirmwareError::UnsupportedFormat(1))
        );
        let mut kind = img.clone();
        kind[5] = 7;
        assert_eq!(verify(&kind, &target), Err(FirmwareError::UnknownKind(7)));
        let header_len = parse_header(&img).unwrap().len;
        for cut in [5, 7, 20, 40, header_len - 1] {
            let e = verify(&img[..cut], &target).unwrap_err();
            assert!(
                matches!(e, FirmwareError::Truncated { .. }),
                "cut at {cut}: {e}"
            );
            assert_eq!(e.check(), None);
        }
        assert_eq!(
            verify(&img[..img.len() - 3], &target),
            Err(FirmwareError::Truncated {
                field: "payload",
                offset: header_len as u64,
                needed: 8,
                available: 5
            })
        );
        let mut long = img.clone();
        long.push(0);
        assert_eq!(
            verify(&long, &target),
            Err(FirmwareError::TrailingBytes { extra: 1 })
        );
        let none = build(&spec(&[], &["*"]), b"", &lab_signing_key());
        assert_eq!(verify(&none, &target), Err(FirmwareError::NoModels));
        let no_hw = build(&spec(&["9620"], &[]), b"", &lab_signing_key());
        assert_eq!(verify(&no_hw, &target), Err(FirmwareError::NoHardware));
        let mut bad_utf8 = img.clone();
        bad_utf8[40] = 0xff;
        assert_eq!(
            verify(&bad_utf8, &target),
            Err(FirmwareError::BadText {
                field: "model list"
            })
        );
    }

    #[test]
    fn a_digest_in_pieces_is_the_digest_of_the_whole() {
        let data: Vec<u8> = (0..10_000u64).map(filler_byte).collect();
        let mut d = StreamDigest::new();
        for piece in data.chunks(333) {
            d.update(piece);
        }
        assert_eq!(d.finish(), sha256(&data));
        assert_eq!(
            (0..4).map(filler_byte).collect::<Vec<_>>(),
            [0x00, 0x9e, 0x3c, 0xda]
        );
    }

    #[test]
    fn a_streamed_header_and_digest_verify_like_the_whole_image() {
        let img = image();
        let h = parse_header(&img[..img.len().min(MAX_HEADER_LEN)]).unwrap();
        check_length(&h, img.len() as u64).unwrap();
        let digest = sha256(&img[h.len..]);
        let keys = lab();
        for step in Check::ORDER {
            check(step, &h, &img[..h.len], &digest, &phone(&keys)).unwrap();
        }
        assert_eq!(
            check(Check::Hash, &h, &img, &[0; 32], &phone(&keys)),
            Err(FirmwareError::DigestMismatch)
        );
    }

    #[test]
    fn versions_from_app_names() {
        let cases = [
            ("S96x0_SALBR2_6_1_0.bin", Some("2.6.1.0")),
            ("S96x1_SALBR7_1_15_0_4.bin", Some("7.1.15.0.4")),
            ("S96x0_SALBR2_6_1_0", Some("2.6.1.0")),
            ("S96x0_SALBR2_6_1_0.BIN", Some("2.6.1.0")),
            ("s96x0_salbr2_6.bin", Some("2.6")),
            ("FW_R1_RELEASE_R3_0.bin", Some("3.0")),
            ("FW_R3_0_REL.bin", None),
            ("S96x0_SALBR2.bin", None),
            ("S96x0_SALBR2__0.bin", None),
            ("S96x0_SALBR_2_6.bin", None),
            ("ha96xxua3_2_1_0.bin", None),
            ("", None),
            ("R", None),
        ];
        for (name, want) in cases {
            assert_eq!(version_from_appname(name).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn model_patterns() {
        assert!(model_matches("9620", "9620"));
        assert!(model_matches("9620", "96x0"));
        assert!(model_matches("9650", "96X0"));
        assert!(model_matches("9608", "96xx"));
        assert!(!model_matches("9608", "96x0"));
        assert!(!model_matches("9620", "9630"));
        assert!(!model_matches("96a0", "96x0"));
        assert!(!model_matches("962", "96x0"));
        assert!(!model_matches("9620", ""));
        assert!(model_matches(" 9620", "9620 "));
    }
}
