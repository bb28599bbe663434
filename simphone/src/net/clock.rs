//! Phone time: the one place where wall-clock time becomes the phone's time.
//!
//! Owns the `--time-scale` factor: every phone timer (DHCP backoff, T1/T2, HTTP timeouts,
//! SIP timers) is written in phone seconds; this clock runs them `scale` times faster.
//! The sans-IO cores never see it — shells read [`PhoneClock::now`] and pass it in.

use std::time::Duration;

use tokio::time::Instant;

/// Converts between real time and phone time.
#[derive(Debug, Clone, Copy)]
pub struct PhoneClock {
    origin: Instant,
    scale: f64,
}

impl PhoneClock {
    /// A clock starting now that runs `scale` times faster than real time (`scale` > 0).
    pub fn new(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Self {
            origin: Instant::now(),
            scale,
        }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Phone time elapsed since the clock started.
    pub fn now(&self) -> Duration {
        self.origin.elapsed().mul_f64(self.scale)
    }

    /// The real duration that `phone` phone-time takes.
    pub fn real(&self, phone: Duration) -> Duration {
        phone.div_f64(self.scale)
    }

    /// The real instant at which phone time reaches `at`.
    pub fn instant_at(&self, at: Duration) -> Instant {
        self.origin + self.real(at)
    }

    /// Sleep until phone time `at` (returns at once if it has passed).
    pub async fn sleep_until(&self, at: Duration) {
        tokio::time::sleep_until(self.instant_at(at)).await;
    }

    /// Sleep for `phone` phone-time.
    pub async fn sleep(&self, phone: Duration) {
        tokio::time::sleep(self.real(phone)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_divides_real_durations_and_bad_scales_fall_back_to_one() {
        let c = PhoneClock::new(10.0);
        assert_eq!(c.real(Duration::from_secs(10)), Duration::from_secs(1));
        assert_eq!(PhoneClock::new(0.0).scale(), 1.0);
        assert_eq!(PhoneClock::new(f64::NAN).scale(), 1.0);
    }

    #[tokio::test]
    async fn phone_time_runs_scale_times_faster() {
        let c = PhoneClock::new(100.0);
        let real = std::time::Instant::now();
        c.sleep(Duration::from_secs(5)).await;
        assert!(c.now() >= Duration::from_secs(5));
        // 5 phone seconds at ×100 are 50 ms of real time, far below 5 s.
        assert!(
            real.elapsed() < Duration::from_secs(2),
            "{:?}",
            real.elapsed()
        );
    }
}
