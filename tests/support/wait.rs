//! The one way tests wait for something: poll with a deadline, never sleep as synchronisation.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a test waits for anything that should happen "soon" on a busy CI machine.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `probe` every 20 ms until it yields `Some`, and returns that; fails the test naming
/// `what` once `timeout` has passed.
pub async fn poll<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `poll` for a plain condition, within `DEADLINE`.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    poll(what, DEADLINE, || {
        std::future::ready(condition().then_some(()))
    })
    .await
}
