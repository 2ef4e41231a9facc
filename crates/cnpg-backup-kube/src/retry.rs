//! Bounded retries with exponential backoff, for idempotent calls only (GET, LIST,
//! server-side apply) and only on 429, 5xx and transport failures ([`crate::error::is_retryable`]).
//!
//! Creates (POST), replaces with a revision (PUT) and deletes are never retried here: their
//! callers decide (a retried create answers 409 `AlreadyExists`, which the lifecycle checks).

use std::future::Future;
use std::time::Duration;

use crate::error::is_retryable;

/// How often and how patiently idempotent calls are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all (1: no retry).
    pub attempts: u32,
    /// Wait before the second attempt; doubled after each failure.
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// A policy with these bounds (`attempts` of 0 is treated as 1).
    pub fn new(attempts: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        Self {
            attempts: attempts.max(1),
            initial_backoff,
            max_backoff,
        }
    }

    /// One attempt, no retry.
    pub fn none() -> Self {
        Self::new(1, Duration::ZERO, Duration::ZERO)
    }

    /// The wait after failed attempt number `failed` (1-based).
    pub fn backoff(&self, failed: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

impl Default for RetryPolicy {
    /// 4 attempts, 200 ms doubling up to 5 s.
    fn default() -> Self {
        Self::new(4, Duration::from_millis(200), Duration::from_secs(5))
    }
}

/// The wait before retrying after `err`, the `failed`th failure: the backoff, or the server's
/// `retryAfterSeconds` (429, 503) when longer, never above `max_backoff`.
pub fn wait_after(policy: &RetryPolicy, failed: u32, err: &kube::Error) -> Duration {
    let hinted = match err {
        kube::Error::Api(s) => s
            .details
            .as_ref()
            .map(|d| Duration::from_secs(u64::from(d.retry_after_seconds)))
            .unwrap_or_default(),
        _ => Duration::ZERO,
    };
    policy.backoff(failed).max(hinted.min(policy.max_backoff))
}

/// Runs `op` until it succeeds, fails with a non-retryable error, or the attempts run out.
pub(crate) async fn idempotent<T, F, Fut>(policy: RetryPolicy, mut op: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut failed = 0;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if is_retryable(&e) && failed + 1 < policy.attempts => {
                failed += 1;
                tracing::debug!(error = %e, attempt = failed, "retrying an idempotent call");
                tokio::time::sleep(wait_after(&policy, failed, &e)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy::new(10, Duration::from_millis(100), Duration::from_millis(350));
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(350));
        assert_eq!(p.backoff(40), Duration::from_millis(350));
    }

    #[test]
    fn the_servers_retry_after_hint_is_honoured_up_to_the_cap() {
        let p = RetryPolicy::new(4, Duration::from_millis(100), Duration::from_secs(5));
        let hinted = |secs: u32| {
            let status: Status = serde_json::from_value(serde_json::json!({
                "status": "Failure", "code": 429, "reason": "TooManyRequests", "message": "slow down",
                "details": {"retryAfterSeconds": secs}
            }))
            .unwrap();
            kube::Error::Api(status.boxed())
        };
        assert_eq!(wait_after(&p, 1, &hinted(2)), Duration::from_secs(2));
        assert_eq!(wait_after(&p, 1, &hinted(60)), Duration::from_secs(5));
        assert_eq!(wait_after(&p, 2, &hinted(0)), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_server_errors_up_to_the_bound_then_gives_up() {
        let mut calls = 0;
        let r: Result<(), _> = idempotent(RetryPolicy::default(), || {
            calls += 1;
            async {
                Err(kube::Error::Api(
                    Status::failure("busy", "ServiceUnavailable")
                        .with_code(503)
                        .boxed(),
                ))
            }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_a_rejected_request() {
        let mut calls = 0;
        let r: Result<(), _> = idempotent(RetryPolicy::default(), || {
            calls += 1;
            async {
                Err(kube::Error::Api(
                    Status::failure("bad", "Invalid").with_code(422).boxed(),
                ))
            }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}
