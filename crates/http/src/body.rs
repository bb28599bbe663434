//! Response bodies: bytes in memory, or a file on disk served as a stream, damaged on the way
//! out by patches (a flipped bit, replaced header bytes) and cut short where the scenario says.
//!
//! Owns: what a body is ([`Body`]), its length, the part of it a range selects, and how a
//! patch changes the bytes of a piece as it passes ([`FileBody::patch`]). Never: opens or
//! reads a file (the shell does, piece by piece, so a file of any size is never held in
//! memory), decides status or headers (`files` does).

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

/// One change made to a file's bytes as they stream out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patch {
    /// XOR the byte at `offset` with `mask` (a bit flip: `mask = 1 << bit`).
    Xor { offset: u64, mask: u8 },
    /// Replace the bytes from `offset` with `bytes`.
    Replace { offset: u64, bytes: Vec<u8> },
}

impl Patch {
    /// The offsets `[start, end)` the patch touches.
    fn span(&self) -> (u64, u64) {
        match self {
            Patch::Xor { offset, .. } => (*offset, offset.saturating_add(1)),
            Patch::Replace { offset, bytes } => {
                (*offset, offset.saturating_add(bytes.len() as u64))
            }
        }
    }
}

/// A file served from disk: its first `len` bytes (a truncation serves fewer than the file
/// has), with `patches` applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileBody {
    pub path: PathBuf,
    pub len: u64,
    pub patches: Vec<Patch>,
}

impl FileBody {
    /// How many of the `max` bytes from offset `at` no patch touches, counted from `at`: 0
    /// when a patch covers `at` itself. Those bytes go out exactly as the file holds them, so
    /// the shell may send them without reading them.
    pub fn unpatched_run(&self, at: u64, max: u64) -> u64 {
        let end = at.saturating_add(max);
        let mut run = max;
        for p in &self.patches {
            let (p_start, p_end) = p.span();
            if p_end <= at || p_start >= end {
                continue;
            }
            if p_start <= at {
                return 0;
            }
            run = run.min(p_start - at);
        }
        run
    }

    /// Apply the patches to `piece`, the file's bytes from offset `at`.
    pub fn patch(&self, at: u64, piece: &mut [u8]) {
        let end = at.saturating_add(piece.len() as u64);
        for p in &self.patches {
            let (p_start, p_end) = p.span();
            if p_end <= at || p_start >= end {
                continue;
            }
            match p {
                Patch::Xor { offset, mask } => {
                    // Inside the piece: checked just above.
                    if let Some(b) = usize::try_from(offset - at)
                        .ok()
                        .and_then(|i| piece.get_mut(i))
                    {
                        *b ^= mask;
                    }
                }
                Patch::Replace { offset, bytes } => {
                    let from = p_start.max(at);
                    let to = p_end.min(end);
                    for o in from..to {
                        let (Ok(src), Ok(dst)) =
                            (usize::try_from(o - offset), usize::try_from(o - at))
                        else {
                            continue;
                        };
                        if let (Some(v), Some(slot)) = (bytes.get(src), piece.get_mut(dst)) {
                            *slot = *v;
                        }
                    }
                }
            }
        }
    }
}

/// A response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Bytes in memory (scripts, settings, reference images, status texts).
    Memory(Bytes),
    /// `len` bytes of a file body from `start` (all of it, or the part a range asked for).
    File {
        file: Arc<FileBody>,
        start: u64,
        len: u64,
    },
}

impl Default for Body {
    fn default() -> Body {
        Body::Memory(Bytes::new())
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body::Memory(b)
    }
}

impl Body {
    /// The whole of a file body.
    pub fn file(file: FileBody) -> Body {
        let len = file.len;
        Body::File {
            file: Arc::new(file),
            start: 0,
            len,
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            Body::Memory(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, when the body is in memory.
    pub fn in_memory(&self) -> Option<&Bytes> {
        match self {
            Body::Memory(b) => Some(b),
            Body::File { .. } => None,
        }
    }

    /// Bytes `start..end` of this body (clamped to it).
    pub fn slice(&self, start: u64, end: u64) -> Body {
        let end = end.min(self.len());
        let start = start.min(end);
        match self {
            Body::Memory(b) => {
                // Both within the body's length, which is a usize.
                let (s, e) = (
                    usize::try_from(start).unwrap_or(b.len()),
                    usize::try_from(end).unwrap_or(b.len()),
                );
                Body::Memory(b.slice(s..e))
            }
            Body::File {
                file, start: at, ..
            } => Body::File {
                file: Arc::clone(file),
                start: at + start,
                len: end - start,
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn body(patches: Vec<Patch>) -> FileBody {
        FileBody {
            path: PathBuf::from("/nowhere"),
            len: 100,
            patches,
        }
    }

    #[test]
    fn patches_apply_to_the_pieces_they_overlap_only() {
        let f = body(vec![
            Patch::Xor {
                offset: 10,
                mask: 0x01,
            },
            Patch::Replace {
                offset: 0,
                bytes: b"MZ!".to_vec(),
            },
        ]);
        let mut piece = [0u8; 8];
        f.patch(0, &mut piece);
        assert_eq!(&piece, b"MZ!\0\0\0\0\0");
        let mut piece = [0u8; 8];
        f.patch(8, &mut piece);
        assert_eq!(piece, [0, 0, 1, 0, 0, 0, 0, 0]);
        // A replacement split across two pieces lands whole.
        let mut a = [0u8; 2];
        let mut b = [0u8; 2];
        f.patch(0, &mut a);
        f.patch(2, &mut b);
        assert_eq!([a, b].concat(), b"MZ!\0");
        let mut far = [7u8; 4];
        f.patch(50, &mut far);
        assert_eq!(far, [7; 4]);
    }

    #[test]
    fn unpatched_runs_stop_at_the_first_patched_byte() {
        let f = body(vec![
            Patch::Replace {
                offset: 40,
                bytes: b"abc".to_vec(),
            },
            Patch::Xor {
                offset: 10,
                mask: 0x80,
            },
        ]);
        assert_eq!(f.unpatched_run(0, 100), 10);
        assert_eq!(f.unpatched_run(0, 8), 8);
        assert_eq!(f.unpatched_run(10, 90), 0);
        assert_eq!(f.unpatched_run(11, 89), 29);
        for at in 40..43 {
            assert_eq!(f.unpatched_run(at, 100 - at), 0, "{at}");
        }
        assert_eq!(f.unpatched_run(43, 57), 57);
        assert_eq!(body(Vec::new()).unpatched_run(5, 95), 95);
    }

    #[test]
    fn slices_stay_inside_the_body() {
        let whole = Body::file(body(Vec::new()));
        assert_eq!(whole.len(), 100);
        let part = whole.slice(10, 20);
        assert!(matches!(
            part,
            Body::File {
                start: 10,
                len: 10,
                ..
            }
        ));
        assert!(matches!(
            part.slice(5, 50),
            Body::File {
                start: 15,
                len: 5,
                ..
            }
        ));
        assert_eq!(whole.slice(200, 300).len(), 0);
        let mem = Body::Memory(Bytes::from_static(b"0123456789"));
        assert_eq!(mem.slice(2, 5).in_memory().unwrap(), &b"234"[..]);
        assert!(whole.in_memory().is_none());
    }
}
