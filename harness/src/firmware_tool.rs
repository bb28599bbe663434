//! `phonecert firmware build` and `phonecert firmware inspect`: make reference images by
//! hand, and explain any image file — field by field, then check by check in the order a
//! phone verifies (provisioning's `firmware` module, domain.md "Firmware").
//!
//! Owns: reading payloads and images from disk as streams (a 2 GiB image is never in
//! memory: the header is read, the payload hashed in pieces), writing built images, and the
//! text both commands print. Never: defines the format (provisioning does) or judges a
//! phone (it says what a phone would find).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use provisioning::firmware::{
    self, Check, Header, ImageKind, ImageSpec, SigningKey, StreamDigest, Target, VerifyingKey,
};

/// Pieces a payload is read and hashed in.
const PIECE: usize = 1 << 20;

/// What went wrong with the files themselves (not with an image's contents: those are
/// findings, printed).
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path} is empty")]
    Empty { path: PathBuf },
    #[error("bad key {0}: want 64 hex digits (an Ed25519 key or seed)")]
    BadKey(String),
    #[error("{0}")]
    Usage(String),
}

/// A 32-byte value in hex (an Ed25519 seed or public key).
pub fn key_bytes(text: &str) -> Result<[u8; 32], ToolError> {
    let bytes = hex::decode(text.trim()).map_err(|_| ToolError::BadKey(text.to_owned()))?;
    bytes
        .try_into()
        .map_err(|_| ToolError::BadKey(text.to_owned()))
}

/// Where a built image's payload comes from.
#[derive(Debug, Clone)]
pub enum Payload {
    /// This file's bytes.
    File(PathBuf),
    /// This many bytes of the deterministic filler.
    Filler(u64),
}

/// Everything `firmware build` needs.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub kind: ImageKind,
    pub models: Vec<String>,
    pub hardware: Vec<String>,
    pub version: String,
    pub app_name: String,
    pub payload: Payload,
    /// Signing key seed; `None`: the lab key.
    pub key_seed: Option<[u8; 32]>,
    pub out: PathBuf,
}

/// Feed a payload, piece by piece, to `each`; returns its length.
fn stream_payload(
    payload: &Payload,
    mut each: impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<u64, ToolError> {
    match payload {
        Payload::File(path) => {
            let read_err = |source| ToolError::Read {
                path: path.clone(),
                source,
            };
            let mut file = File::open(path).map_err(read_err)?;
            let mut buf = vec![0u8; PIECE];
            let mut total = 0u64;
            loop {
                let n = file.read(&mut buf).map_err(read_err)?;
                if n == 0 {
                    return Ok(total);
                }
                each(&buf[..n]).map_err(read_err)?;
                total += n as u64;
            }
        }
        Payload::Filler(len) => {
            let mut buf = Vec::with_capacity(PIECE);
            let mut at = 0u64;
            while at < *len {
                buf.clear();
                let end = (at + PIECE as u64).min(*len);
                buf.extend((at..end).map(firmware::filler_byte));
                each(&buf).map_err(|source| ToolError::Read {
                    path: PathBuf::from("(filler)"),
                    source,
                })?;
                at = end;
            }
            Ok(*len)
        }
    }
}

/// Build an image: hash the payload in one pass, write the signed header and copy the payload
/// in a second. Returns the header as written.
pub fn build(req: &BuildRequest) -> Result<Header, ToolError> {
    if req.models.is_empty() {
        return Err(ToolError::Usage(
            "an image needs at least one --model".into(),
        ));
    }
    let key = match req.key_seed {
        Some(seed) => SigningKey::from_bytes(&seed),
        None => firmware::lab_signing_key(),
    };
    let mut digest = StreamDigest::new();
    let len = stream_payload(&req.payload, |piece| {
        digest.update(piece);
        Ok(())
    })?;
    let models: Vec<&str> = req.models.iter().map(String::as_str).collect();
    let hardware: Vec<&str> = req.hardware.iter().map(String::as_str).collect();
    let spec = ImageSpec {
        kind: req.kind,
        models: &models,
        hardware: &hardware,
        version: &req.version,
        app_name: &req.app_name,
    };
    let header_bytes = firmware::build_header(&spec, len, digest.finish(), &key);
    let write_err = |source| ToolError::Write {
        path: req.out.clone(),
        source,
    };
    let mut out = BufWriter::new(File::create(&req.out).map_err(write_err)?);
    out.write_all(&header_bytes).map_err(write_err)?;
    let mut copied = StreamDigest::new();
    let copied_len = stream_payload(&req.payload, |piece| {
        copied.update(piece);
        out.write_all(piece)
    })?;
    out.flush().map_err(write_err)?;
    let header = firmware::parse_header(&header_bytes)
        .map_err(|e| ToolError::Usage(format!("built header does not parse: {e}")))?;
    // The payload file changed between the two passes: the image would lie about it.
    if copied_len != len || copied.finish() != header.payload_digest {
        return Err(ToolError::Usage(format!(
            "the payload changed while {} was written; build again",
            req.out.display()
        )));
    }
    Ok(header)
}

/// The phone `inspect` checks an image for; each part left out skips the checks that need
/// it.
#[derive(Debug, Clone, Default)]
pub struct InspectTarget {
    pub model4: Option<String>,
    pub hardware: Option<String>,
    pub kind: Option<ImageKind>,
    /// Trusted signer public keys; empty: the lab key.
    pub trusted: Vec<[u8; 32]>,
}

/// What `inspect` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The text to print.
    pub text: String,
    /// The image would be refused by the target phone (or cannot be read as an image).
    pub refused: bool,
}

/// Explain an image file: header fields with their offsets, the payload's length and
/// SHA-256 computed while streaming it, then each check in a phone's order.
pub fn inspect(path: &Path, target: &InspectTarget) -> Result<Inspection, ToolError> {
    let read_err = |source| ToolError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    if size == 0 {
        return Err(ToolError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut prefix = Vec::new();
    (&mut file)
        .take(firmware::MAX_HEADER_LEN as u64)
        .read_to_end(&mut prefix)
        .map_err(read_err)?;
    let mut text = String::new();
    let _ = writeln!(text, "file     {} ({size} bytes)", path.display());
    let header = match firmware::parse_header(&prefix) {
        Ok(h) => h,
        Err(e) => {
            // Not (or not readably) a reference image: a real vendor file, say. Its size
            // and digest are still worth knowing.
            file.seek(SeekFrom::Start(0)).map_err(read_err)?;
            let digest = hash_rest(&mut file).map_err(read_err)?;
            let _ = writeln!(text, "sha-256  {}", hex::encode(digest));
            let _ = writeln!(text, "header   unreadable: {e}");
            let _ = writeln!(text, "verdict  refused: {e}");
            return Ok(Inspection {
                text,
                refused: true,
            });
        }
    };
    describe_header(&mut text, &header);

    let lab = firmware::lab_signing_key().verifying_key();
    let trusted: Vec<VerifyingKey> = if target.trusted.is_empty() {
        vec![lab]
    } else {
        target
            .trusted
            .iter()
            .filter_map(|k| VerifyingKey::from_bytes(k).ok())
            .collect()
    };

    let mut refused: Option<String> = None;
    let present = size.saturating_sub(header.len as u64);
    let length = firmware::check_length(&header, size);
    let _ = writeln!(
        text,
        "payload  {present} bytes present at offset {}: {}",
        header.len,
        match &length {
            Ok(()) => "as declared".to_owned(),
            Err(e) => e.to_string(),
        }
    );
    if let Err(e) = &length {
        refused = Some(e.to_string());
    }
    file.seek(SeekFrom::Start(header.len as u64))
        .map_err(read_err)?;
    let digest = hash_rest(&mut file).map_err(read_err)?;
    let _ = writeln!(text, "computed payload sha-256 {}", hex::encode(digest));

    let model4 = target.model4.clone().unwrap_or_default();
    let hardware = target.hardware.clone().unwrap_or_default();
    let phone = Target {
        model4: &model4,
        hardware: &hardware,
        kind: target.kind.unwrap_or(ImageKind::Application),
        trusted: &trusted,
    };
    let _ = writeln!(text, "checks (in the order a phone makes them):");
    for step in Check::ORDER {
        let skipped = match step {
            Check::Model if target.model4.is_none() => Some("no --model given"),
            Check::Hardware if target.hardware.is_none() => Some("no --hardware given"),
            Check::Kind if target.kind.is_none() => Some("no --kind given"),
            _ => None,
        };
        let line = match skipped {
            Some(why) => format!("skipped ({why})"),
            None => match firmware::check(step, &header, &prefix, &digest, &phone) {
                Ok(()) => "pass".to_owned(),
                Err(e) => {
                    refused.get_or_insert_with(|| format!("{step}: {e}"));
                    format!("FAIL: {e}")
                }
            },
        };
        let _ = writeln!(text, "  {:<9} {line}", step.as_str());
    }
    match &refused {
        Some(why) => {
            let _ = writeln!(text, "verdict  refused: {why}");
        }
        None => {
            let _ = writeln!(text, "verdict  accepted");
        }
    }
    Ok(Inspection {
        text,
        refused: refused.is_some(),
    })
}

fn describe_header(text: &mut String, h: &Header) {
    let lab = firmware::lab_signing_key().verifying_key();
    let signer = hex::encode(h.signer);
    let whose = if h.signer == *lab.as_bytes() {
        " (the phonecert lab key)"
    } else {
        ""
    };
    let _ = writeln!(text, "format   PCFW version {}", firmware::FORMAT_VERSION);
    let _ = writeln!(text, "kind     {}", h.kind);
    let _ = writeln!(text, "signer   {signer}{whose}");
    let _ = writeln!(text, "models   {}", h.models.join(","));
    let _ = writeln!(text, "hardware {}", h.hardware.join(","));
    let _ = writeln!(text, "version  {}", h.version);
    let _ = writeln!(text, "app name {}", h.app_name);
    let _ = writeln!(text, "payload  {} bytes declared", h.payload_len);
    let _ = writeln!(
        text,
        "signed payload sha-256   {}",
        hex::encode(h.payload_digest)
    );
    let _ = writeln!(
        text,
        "signature {} (over bytes 0..{})",
        hex::encode(h.signature),
        h.signed_len
    );
}

fn hash_rest(file: &mut File) -> io::Result<[u8; 32]> {
    let mut digest = StreamDigest::new();
    let mut buf = vec![0u8; PIECE];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(digest.finish());
        }
        digest.update(&buf[..n]);
    }
}

/// Parse an image kind as the command line spells it.
pub fn parse_kind(text: &str) -> Result<ImageKind, ToolError> {
    match text.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "application" | "app" => Ok(ImageKind::Application),
        "boot_code" | "boot" => Ok(ImageKind::BootCode),
        _ => Err(ToolError::Usage(format!(
            "unknown image kind `{text}`: application or boot-code"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A folder of its own for one test, removed when the test ends.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("phonecert-fwtool-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn request(dir: &Path, payload: Payload) -> BuildRequest {
        BuildRequest {
            kind: ImageKind::Application,
            models: vec!["96x0".into()],
            hardware: vec!["D01A".into()],
            version: "2.6.1.0".into(),
            app_name: "S96x0_SALBR2_6_1_0.bin".into(),
            payload,
            key_seed: None,
            out: dir.join("S96x0_SALBR2_6_1_0.bin"),
        }
    }

    fn phone() -> InspectTarget {
        InspectTarget {
            model4: Some("9620".into()),
            hardware: Some("D01A".into()),
            kind: Some(ImageKind::Application),
            trusted: Vec::new(),
        }
    }

    #[test]
    fn a_built_image_verifies_and_inspects_as_accepted() {
        let dir = Scratch::new("built");
        let payload = dir.path().join("payload");
        std::fs::write(&payload, b"some application bytes").unwrap();
        let req = request(dir.path(), Payload::File(payload));
        build(&req).unwrap();
        let image = std::fs::read(&req.out).unwrap();
        let keys = [firmware::lab_signing_key().verifying_key()];
        let target = Target {
            model4: "9620",
            hardware: "D01A",
            kind: ImageKind::Application,
            trusted: &keys,
        };
        let h = firmware::verify(&image, &target).unwrap();
        assert!(image.ends_with(b"some application bytes"));
        assert_eq!(h.version, "2.6.1.0");

        let found = inspect(&req.out, &phone()).unwrap();
        assert!(!found.refused, "{}", found.text);
        assert!(found.text.contains("(the phonecert lab key)"));
        assert!(found.text.contains("  hash      pass"));
        assert!(
            found.text.ends_with("verdict  accepted\n"),
            "{}",
            found.text
        );
    }

    #[test]
    fn inspect_names_the_first_failing_check_in_order() {
        let dir = Scratch::new("order");
        let mut req = request(dir.path(), Payload::Filler(1000));
        req.hardware = vec!["D02B".into()];
        req.key_seed = Some([7; 32]);
        build(&req).unwrap();
        let found = inspect(&req.out, &phone()).unwrap();
        assert!(found.refused);
        assert!(
            found.text.contains("  signer    FAIL: signer"),
            "{}",
            found.text
        );
        assert!(
            found
                .text
                .contains("  hardware  FAIL: image is for hardware")
        );
        assert!(
            found.text.contains("verdict  refused: signer: "),
            "{}",
            found.text
        );
        // Trusting the signer leaves only the hardware.
        let trusting = InspectTarget {
            trusted: vec![*SigningKey::from_bytes(&[7; 32]).verifying_key().as_bytes()],
            ..phone()
        };
        let found = inspect(&req.out, &trusting).unwrap();
        assert!(
            found.text.contains("verdict  refused: hardware: "),
            "{}",
            found.text
        );
        // Without a phone's hardware the check is skipped, not passed.
        let found = inspect(
            &req.out,
            &InspectTarget {
                hardware: None,
                ..trusting
            },
        )
        .unwrap();
        assert!(
            found
                .text
                .contains("  hardware  skipped (no --hardware given)")
        );
        assert!(!found.refused);
    }

    #[test]
    fn a_flipped_payload_byte_and_a_cut_file_are_explained() {
        let dir = Scratch::new("flip");
        let req = request(dir.path(), Payload::Filler(4096));
        let header = build(&req).unwrap();
        let mut image = std::fs::read(&req.out).unwrap();
        let at = header.len + 100;
        image[at] ^= 1;
        let flipped = dir.path().join("flipped.bin");
        std::fs::write(&flipped, &image).unwrap();
        let found = inspect(&flipped, &phone()).unwrap();
        assert!(found.text.contains("  signature pass"), "{}", found.text);
        assert!(
            found.text.contains("verdict  refused: hash: "),
            "{}",
            found.text
        );

        let cut = dir.path().join("cut.bin");
        std::fs::write(&cut, &image[..header.len + 10]).unwrap();
        let found = inspect(&cut, &phone()).unwrap();
        assert!(
            found.text.contains("payload  10 bytes present at offset"),
            "{}",
            found.text
        );
        assert!(
            found
                .text
                .contains("verdict  refused: image truncated in payload")
        );
    }

    #[test]
    fn a_foreign_file_gets_its_size_and_digest_and_an_empty_one_an_error() {
        let dir = Scratch::new("foreign");
        let vendor = dir.path().join("S96x1_SALBR7_1_15_0_4.bin");
        std::fs::write(&vendor, b"\x7fELF not ours").unwrap();
        let found = inspect(&vendor, &phone()).unwrap();
        assert!(found.refused);
        assert!(
            found
                .text
                .contains(&hex::encode(firmware::sha256(b"\x7fELF not ours")))
        );
        assert!(
            found
                .text
                .contains("header   unreadable: not a phonecert image: bad magic")
        );

        let empty = dir.path().join("empty.bin");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(
            inspect(&empty, &phone()),
            Err(ToolError::Empty { .. })
        ));
        assert!(matches!(
            inspect(&dir.path().join("missing.bin"), &phone()),
            Err(ToolError::Read { .. })
        ));
    }

    #[test]
    fn filler_builds_are_reproducible_and_streamed_in_pieces() {
        let dir = Scratch::new("filler");
        // Larger than one read piece, so the two passes each take several pieces.
        let size = PIECE as u64 * 2 + 17;
        let a = request(dir.path(), Payload::Filler(size));
        build(&a).unwrap();
        let b = BuildRequest {
            out: dir.path().join("again.bin"),
            ..a.clone()
        };
        build(&b).unwrap();
        let first = std::fs::read(&a.out).unwrap();
        assert_eq!(first, std::fs::read(&b.out).unwrap());
        let h = firmware::parse_header(&first).unwrap();
        assert_eq!(first.len() as u64, h.len as u64 + size);
        assert_eq!(first[h.len + 1], firmware::filler_byte(1));
    }

    #[test]
    fn keys_and_kinds_parse() {
        assert_eq!(key_bytes(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        assert!(matches!(key_bytes("abcd"), Err(ToolError::BadKey(_))));
        assert_eq!(parse_kind("boot-code").unwrap(), ImageKind::BootCode);
        assert_eq!(parse_kind("Application").unwrap(), ImageKind::Application);
        assert!(parse_kind("kernel").is_err());
    }
}
