//! A tiny deterministic pseudo-random generator (SplitMix64) for the phone's cores.
//!
//! Owns: transaction ids, DHCP retransmission jitter, SIP tags/branches/cnonces, and the
//! random part of the registration recovery wait. Never reads the OS entropy pool: every core
//! gets one of these built from `--seed`, so a run can be replayed exactly.

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast and good enough for protocol jitter.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        // 53 significant bits, the precision of an f64 mantissa.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform float in `[lo, hi)`.
    pub fn range_f64(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// `n` random bytes as lower-case hex (tags, branches, cnonces).
    pub fn hex(&mut self, bytes: usize) -> String {
        let mut out = String::with_capacity(bytes * 2);
        let mut left = bytes;
        while left > 0 {
            let word = self.next_u64().to_be_bytes();
            for b in word.iter().take(left.min(8)) {
                out.push_str(&format!("{b:02x}"));
            }
            left = left.saturating_sub(8);
        }
        out
    }

    /// A fresh generator derived from this one (so two cores never share a stream).
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut c = Rng::new(8);
        let xa: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn ranges_stay_in_bounds_and_hex_has_the_asked_length() {
        let mut r = Rng::new(1);
        for _ in 0..1000 {
            let x = r.range_f64(0.5, 0.9);
            assert!((0.5..0.9).contains(&x), "{x}");
        }
        assert_eq!(r.hex(5).len(), 10);
        assert_eq!(r.hex(12).len(), 24);
        assert!(r.hex(12).chars().all(|c| c.is_ascii_hexdigit()));
    }
}
