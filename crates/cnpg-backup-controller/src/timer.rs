//! The loop's clock: [`WallTimer`] in a process (tokio's monotonic time, reported as UTC), or
//! [`crate::sim::SimTimer`] on the simulator (sleeping moves the simulated world on).

use chrono::{DateTime, Utc};

/// Now, and waiting until a time.
#[async_trait::async_trait]
pub trait Timer: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;

    /// Returns at `t`, or earlier (the loop looks again either way).
    async fn sleep_until(&self, t: DateTime<Utc>);
}

/// Wall time that never jumps: UTC at start plus tokio's monotonic time since (paused tokio
/// time in tests moves it).
#[derive(Debug, Clone, Copy)]
pub struct WallTimer {
    base: DateTime<Utc>,
    origin: tokio::time::Instant,
}

impl WallTimer {
    /// Starts now.
    pub fn new() -> Self {
        Self {
            base: Utc::now(),
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for WallTimer {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Timer for WallTimer {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.origin.elapsed()).unwrap_or_default();
        self.base + elapsed
    }

    async fn sleep_until(&self, t: DateTime<Utc>) {
        let wait = (t - self.now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
    }
}
