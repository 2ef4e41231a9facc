//! Rate limits for the destructive routes (apply, abandon, cleanup): a token bucket per restore
//! and one for all of them together. A refused request gets 429 with `Retry-After` and changes
//! nothing. The buckets live in the process: each replica limits its own share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A bucket of `burst` tokens, refilled by one every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed at once.
    pub burst: u32,
    /// One more request allowed after each such interval.
    pub every: Duration,
}

impl RateLimit {
    /// `burst` at once, then one per `every`.
    pub const fn new(burst: u32, every: Duration) -> Self {
        Self { burst, every }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(limit: RateLimit, now: Instant) -> Self {
        Self {
            tokens: f64::from(limit.burst),
            at: now,
        }
    }

    fn refill(&mut self, limit: RateLimit, now: Instant) {
        let per = limit.every.as_secs_f64().max(f64::MIN_POSITIVE);
        let gained = now.saturating_duration_since(self.at).as_secs_f64() / per;
        self.tokens = (self.tokens + gained).min(f64::from(limit.burst));
        self.at = now;
    }

    /// Time until one token is there.
    fn wait(&self, limit: RateLimit) -> Duration {
        let missing = (1.0 - self.tokens).max(0.0);
        Duration::from_secs_f64(missing * limit.every.as_secs_f64())
    }
}

/// Per-key and global token buckets.
#[derive(Debug)]
pub struct RateLimiter {
    per_key: RateLimit,
    global: RateLimit,
    state: Mutex<(Bucket, HashMap<String, Bucket>)>,
}

/// The most keys remembered; full buckets are forgotten first.
const MAX_KEYS: usize = 4096;

impl RateLimiter {
    /// A limiter with these limits.
    pub fn new(per_key: RateLimit, global: RateLimit) -> Self {
        Self {
            per_key,
            global,
            state: Mutex::new((Bucket::full(global, Instant::now()), HashMap::new())),
        }
    }

    /// Takes a token for `key` and one from the global bucket, or says how long to wait.
    ///
    /// # Errors
    /// The time until both buckets have a token again (nothing is taken then).
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (global, keys) = &mut *guard;
        global.refill(self.global, now);
        if keys.len() >= MAX_KEYS && !keys.contains_key(key) {
            let limit = self.per_key;
            keys.retain(|_, b| {
                b.refill(limit, now);
                b.tokens < f64::from(limit.burst)
            });
        }
        let bucket = keys
            .entry(key.to_owned())
            .or_insert_with(|| Bucket::full(self.per_key, now));
        bucket.refill(self.per_key, now);
        if bucket.tokens >= 1.0 && global.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            global.tokens -= 1.0;
            return Ok(());
        }
        Err(bucket.wait(self.per_key).max(global.wait(self.global)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_one_per_interval_per_key_and_globally() {
        let l = RateLimiter::new(
            RateLimit::new(2, Duration::from_secs(10)),
            RateLimit::new(3, Duration::from_secs(1)),
        );
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_ok());
        let wait = l.check("a").unwrap_err();
        assert_eq!(wait, Duration::from_secs(10));
        // Another key has its own bucket, but the global one has a single token left.
        assert!(l.check("b").is_ok());
        assert!(l.check("c").is_err());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_err());
    }
}
