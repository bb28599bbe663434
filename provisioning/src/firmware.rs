//! phonecert's own reference firmware image format, for the reference phone (`simphone`).
//!
//! Owns: building, parsing and verifying images; the lab signing key; reading a version out
//! of an Avaya-style application file name; model family matching.
//!
//! Never does: touch real Avaya images (a real phone gets real images supplied by the user,
//! and the harness corrupts those generically), read files, or keep keys secret — the lab
//! key is derived from a public seed and is a **test key**.
//!
//! Follows domain.md "Firmware": a real phone checks the signer against the root it trusts,
//! then the model/hardware match, then each package's integrity, and on any failure deletes
//! the download and keeps running the old firmware. [`verify`] checks in that order:
//! structure, signature by the trusted key, model match, digest.
//!
//! # Byte layout (format version 1, all lengths big-endian)
//!
//! ```text
//! offset  size  field
//! 0       4     magic "PCFW"
//! 4       1     format version = 1
//! 5       2     M: length of the model list
//! 7       M     model list, UTF-8, comma-separated: "9620,9630" or a family "96x0"
//! 7+M     2     V: length of the version
//! …       V     version, UTF-8: "2.6.1.0"
//! …       2     A: length of the application name
//! …       A     application name, UTF-8: "S96x0_SALBR2_6_1_0.bin"
//! …       4     P: payload length
//! …       P     payload
//! …       32    SHA-256 of every byte before this field
//! …       64    Ed25519 signature of every byte before this field (digest included)
//! ```
//! Nothing may follow the signature. Text fields longer than 65535 bytes are cut by
//! [`build`] (they never are in practice).

/// The key type images are signed with (re-exported so callers need no ed25519 dependency).
pub use ed25519_dalek::SigningKey;
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use sha2::{Digest, Sha256};

/// The first four bytes of every image.
pub const MAGIC: &[u8; 4] = b"PCFW";
/// The only format version this module reads and writes.
pub const FORMAT_VERSION: u8 = 1;
const DIGEST_LEN: usize = 32;
const SIGNATURE_LEN: usize = 64;

/// What an image says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Model entries: exact (`9620`) or family patterns (`96x0`).
    pub models: Vec<String>,
    /// Version string, e.g. `2.6.1.0`.
    pub version: String,
    /// Application name, e.g. `S96x0_SALBR2_6_1_0.bin`.
    pub app_name: String,
    pub payload_len: usize,
}

/// Why an image was refused. Each variant names one reason a phone would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FirmwareError {
    #[error(
        "image truncated in {field} at offset {offset}: needs {needed} bytes, {available} left"
    )]
    Truncated {
        field: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("not a phonecert image: bad magic")]
    BadMagic,
    #[error("unsupported image format version {0}")]
    UnsupportedFormat(u8),
    #[error("{field} is not valid utf-8")]
    BadText { field: &'static str },
    #[error("image names no model")]
    NoModels,
    #[error("{extra} unexpected byte(s) after the signature")]
    TrailingBytes { extra: usize },
    #[error("signature does not verify with the trusted key")]
    BadSignature,
    #[error("image is for {image_models:?}, not for model {model}")]
    WrongModel {
        model: String,
        image_models: Vec<String>,
    },
    #[error("sha-256 digest does not match the image contents")]
    DigestMismatch,
}

/// A parsed image: its header, where the signed part ends, and the stored digest/signature.
struct Parsed<'a> {
    info: ImageInfo,
    /// Bytes covered by the digest.
    digested: &'a [u8],
    /// Bytes covered by the signature.
    signed: &'a [u8],
    digest: [u8; DIGEST_LEN],
    signature: [u8; SIGNATURE_LEN],
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
                offset: self.pos,
                needed: n,
                available,
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

fn parse(image: &[u8]) -> Result<Parsed<'_>, FirmwareError> {
    let head = &image[..image.len().min(MAGIC.len())];
    if head != &MAGIC[..head.len()] {
        return Err(FirmwareError::BadMagic);
    }
    let mut r = Reader {
        bytes: image,
        pos: 0,
    };
    r.take(MAGIC.len(), "magic")?;
    let [format] = r.array::<1>("format version")?;
    if format != FORMAT_VERSION {
        return Err(FirmwareError::UnsupportedFormat(format));
    }
    let models = r.text("model list", "model list length")?;
    let version = r.text("version", "version length")?;
    let app_name = r.text("application name", "application name length")?;
    let payload_len = u32::from_be_bytes(r.array("payload length")?);
    let payload_len = usize::try_from(payload_len).map_err(|_| FirmwareError::Truncated {
        field: "payload",
        offset: r.pos,
        needed: usize::MAX,
        available: image.len() - r.pos,
    })?;
    r.take(payload_len, "payload")?;
    let digested_end = r.pos;
    let digest = r.array::<DIGEST_LEN>("digest")?;
    let signed_end = r.pos;
    let signature = r.array::<SIGNATURE_LEN>("signature")?;
    if r.pos != image.len() {
        return Err(FirmwareError::TrailingBytes {
            extra: image.len() - r.pos,
        });
    }
    let models: Vec<String> = models
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    if models.is_empty() {
        return Err(FirmwareError::NoModels);
    }
    Ok(Parsed {
        info: ImageInfo {
            models,
            version,
            app_name,
            payload_len,
        },
        digested: &image[..digested_end],
        signed: &image[..signed_end],
        digest,
        signature,
    })
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

/// Everything up to (not including) the digest.
fn encode_body(app_name: &str, models: &[&str], version: &str, payload: &[u8]) -> Vec<u8> {
    let payload = &payload[..payload.len().min(u32::MAX as usize)];
    let mut out = Vec::with_capacity(payload.len() + 128);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    push_text(&mut out, &models.join(","));
    push_text(&mut out, version);
    push_text(&mut out, app_name);
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn sha256(bytes: &[u8]) -> [u8; DIGEST_LEN] {
    Sha256::digest(bytes).into()
}

/// Build a signed image.
pub fn build(
    app_name: &str,
    models: &[&str],
    version: &str,
    payload: &[u8],
    key: &SigningKey,
) -> Vec<u8> {
    let body = encode_body(app_name, models, version, payload);
    let digest = sha256(&body);
    seal(body, digest, key)
}

/// Build a validly *signed* image whose digest field holds `digest` instead of the real one:
/// the "signed by a trusted key, but corrupt" fixture that only the digest check catches.
pub fn build_with_digest(
    app_name: &str,
    models: &[&str],
    version: &str,
    payload: &[u8],
    digest: [u8; 32],
    key: &SigningKey,
) -> Vec<u8> {
    seal(encode_body(app_name, models, version, payload), digest, key)
}

fn seal(mut body: Vec<u8>, digest: [u8; DIGEST_LEN], key: &SigningKey) -> Vec<u8> {
    body.extend_from_slice(&digest);
    let signature = key.sign(&body);
    body.extend_from_slice(&signature.to_bytes());
    body
}

/// Read an image's header without checking signature, model or digest.
pub fn inspect(image: &[u8]) -> Result<ImageInfo, FirmwareError> {
    parse(image).map(|p| p.info)
}

/// Verify `image` for a phone of model `model4` that trusts `trusted`, in a real phone's
/// order: structure, signature, model match, digest. Never panics.
pub fn verify(
    image: &[u8],
    model4: &str,
    trusted: &VerifyingKey,
) -> Result<ImageInfo, FirmwareError> {
    let parsed = parse(image)?;
    let signature = Signature::from_bytes(&parsed.signature);
    trusted
        .verify_strict(parsed.signed, &signature)
        .map_err(|_| FirmwareError::BadSignature)?;
    if !parsed.info.models.iter().any(|m| model_matches(model4, m)) {
        return Err(FirmwareError::WrongModel {
            model: model4.to_string(),
            image_models: parsed.info.models,
        });
    }
    if sha256(parsed.digested) != parsed.digest {
        return Err(FirmwareError::DigestMismatch);
    }
    Ok(parsed.info)
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

    fn image() -> Vec<u8> {
        build(
            APP,
            &["9620", "9630"],
            "2.6.1.0",
            b"payload!",
            &lab_signing_key(),
        )
    }

    #[test]
    fn golden_layout() {
        let img = build("A.bin", &["96x0"], "1.0", b"xyz", &lab_signing_key());
        let header: &[u8] = b"PCFW\x01\x00\x0496x0\x00\x031.0\x00\x05A.bin\x00\x00\x00\x03xyz";
        assert_eq!(&img[..header.len()], header);
        assert_eq!(img.len(), header.len() + 32 + 64);
        assert_eq!(&img[header.len()..header.len() + 32], &sha256(header)[..]);
        // The lab key is stable: images built today verify tomorrow.
        assert_eq!(
            hex::encode(lab_signing_key().verifying_key().to_bytes()),
            hex::encode(
                SigningKey::from_bytes(&sha256(LAB_KEY_SEED))
                    .verifying_key()
                    .to_bytes()
            )
        );
    }

    #[test]
    fn round_trip() {
        let info = verify(&image(), "9620", &lab_signing_key().verifying_key()).unwrap();
        assert_eq!(
            info,
            ImageInfo {
                models: vec!["9620".into(), "9630".into()],
                version: "2.6.1.0".into(),
                app_name: APP.into(),
                payload_len: 8
            }
        );
        assert_eq!(inspect(&image()).unwrap(), info);
    }

    #[test]
    fn payload_bit_flip_is_caught_by_the_signature() {
        let mut img = image();
        let payload_at = img.len() - 64 - 32 - 8;
        img[payload_at] ^= 0x01;
        assert_eq!(
            verify(&img, "9620", &lab_signing_key().verifying_key()),
            Err(FirmwareError::BadSignature)
        );
    }

    #[test]
    fn signature_bit_flip() {
        let mut img = image();
        let last = img.len() - 1;
        img[last] ^= 0x80;
        assert_eq!(
            verify(&img, "9620", &lab_signing_key().verifying_key()),
            Err(FirmwareError::BadSignature)
        );
    }

    #[test]
    fn signed_but_lying_digest() {
        let img = build_with_digest(
            APP,
            &["9620"],
            "2.6.1.0",
            b"payload!",
            [7; 32],
            &lab_signing_key(),
        );
        assert_eq!(
            verify(&img, "9620", &lab_signing_key().verifying_key()),
            Err(FirmwareError::DigestMismatch)
        );
    }

    #[test]
    fn other_key() {
        let other = SigningKey::from_bytes(&[9; 32]);
        let img = build(APP, &["9620"], "2.6.1.0", b"p", &other);
        assert_eq!(
            verify(&img, "9620", &lab_signing_key().verifying_key()),
            Err(FirmwareError::BadSignature)
        );
        assert!(verify(&img, "9620", &other.verifying_key()).is_ok());
    }

    #[test]
    fn wrong_model_checked_after_signature() {
        let key = lab_signing_key().verifying_key();
        assert_eq!(
            verify(&image(), "9608", &key),
            Err(FirmwareError::WrongModel {
                model: "9608".into(),
                image_models: vec!["9620".into(), "9630".into()]
            })
        );
        let other = SigningKey::from_bytes(&[9; 32]);
        let foreign = build(APP, &["9620"], "2.6.1.0", b"p", &other);
        assert_eq!(
            verify(&foreign, "9608", &key),
            Err(FirmwareError::BadSignature)
        );
        let family = build(APP, &["96x0"], "2.6.1.0", b"p", &lab_signing_key());
        assert!(verify(&family, "9650", &key).is_ok());
        assert!(verify(&family, "9608", &key).is_err());
    }

    #[test]
    fn structural_errors() {
        let key = lab_signing_key().verifying_key();
        let img = image();
        assert_eq!(
            verify(b"MZ\x90\x00", "9620", &key),
            Err(FirmwareError::BadMagic)
        );
        assert_eq!(
            verify(b"", "9620", &key).unwrap_err(),
            FirmwareError::Truncated {
                field: "magic",
                offset: 0,
                needed: 4,
                available: 0
            }
        );
        assert!(matches!(
            verify(b"PC", "9620", &key),
            Err(FirmwareError::Truncated { field: "magic", .. })
        ));
        let mut v2 = img.clone();
        v2[4] = 2;
        assert_eq!(
            verify(&v2, "9620", &key),
            Err(FirmwareError::UnsupportedFormat(2))
        );
        for cut in [5, 7, 20, img.len() - 100, img.len() - 64, img.len() - 1] {
            assert!(
                matches!(
                    verify(&img[..cut], "9620", &key),
                    Err(FirmwareError::Truncated { .. })
                ),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            verify(&img[..img.len() - 10], "9620", &key),
            Err(FirmwareError::Truncated {
                field: "signature",
                ..
            })
        ));
        let mut long = img.clone();
        long.push(0);
        assert_eq!(
            verify(&long, "9620", &key),
            Err(FirmwareError::TrailingBytes { extra: 1 })
        );
        let none = build(APP, &[], "1", b"", &lab_signing_key());
        assert_eq!(verify(&none, "9620", &key), Err(FirmwareError::NoModels));
        let mut bad_utf8 = img.clone();
        bad_utf8[7] = 0xff;
        assert_eq!(
            verify(&bad_utf8, "9620", &key),
            Err(FirmwareError::BadText {
                field: "model list"
            })
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
