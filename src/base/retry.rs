//! Retries with exponential backoff and jitter, for requests that may pass on
//! a later try (the uploads to Weaviate, the embedding endpoint).

use backon::ExponentialBuilder;
use std::time::Duration;

/// At most `retries` delays: the first is `first`, each next one doubles up
/// to `max`, and each is stretched by a random 0-100% so that clients that
/// failed together do not come back together. The jitter's generator is
/// seeded from the operating system's random source: backon's own seed
/// (fastrand's) is the clock and the thread id.
pub fn exponential(first: Duration, max: Duration, retries: usize) -> ExponentialBuilder {
    let builder = ExponentialBuilder::new()
        .with_min_delay(first)
        .with_max_delay(max)
        .with_max_times(retries)
        .with_jitter();
    match getrandom::u64() {
        Ok(seed) => builder.with_jitter_seed(seed),
        // No OS randomness (an odd sandbox): backon's own seed still jitters.
        Err(_) => builder,
    }
}

/// A fraction in [0, 1) from the operating system's random source, for
/// spreading work out (a scheduled job's jitter); the clock where the OS has
/// none to give.
pub fn random_fraction() -> f64 {
    let bits = getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    // The top 53 bits: every value a double holds below 1, evenly.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn delays_double_up_to_the_cap_each_stretched_by_up_to_itself() {
        let ms = Duration::from_millis;
        let delays: Vec<Duration> = exponential(ms(100), ms(500), 5).build().collect();
        let bases = [ms(100), ms(200), ms(400), ms(500), ms(500)];
        assert_eq!(delays.len(), bases.len(), "{delays:?}");
        for (d, base) in delays.iter().zip(bases) {
            assert!(*d >= base && *d < base * 2, "{d:?} outside {base:?}..2x");
        }
        assert_eq!(exponential(ms(100), ms(500), 0).build().count(), 0);
    }

    #[test]
    fn two_backoffs_started_together_spread_apart() {
        let first = Duration::from_secs(1);
        let a: Vec<Duration> = exponential(first, first * 8, 4).build().collect();
        let b: Vec<Duration> = exponential(first, first * 8, 4).build().collect();
        assert_ne!(a, b, "both drew the same jitter");
    }

    #[test]
    fn random_fractions_stay_below_one_and_vary() {
        let draws: Vec<f64> = (0..64).map(|_| random_fraction()).collect();
        assert!(draws.iter().all(|f| (0.0..1.0).contains(f)));
        assert!(draws.windows(2).any(|w| w[0] != w[1]));
    }
}
