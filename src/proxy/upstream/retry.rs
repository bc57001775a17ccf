//! When a failed attempt may be tried again (SPEC, "Upstream pools"), and the pool's retry
//! budget.
//!
//! Safe means: nothing was sent (the connection could not be made, or closed before one byte
//! of the request was written), whatever the method; or an idempotent method (RFC 9110
//! §9.2.2: GET, HEAD, OPTIONS, PUT, DELETE) without a body whose attempt failed before any
//! byte of the response (reset, timeout) or answered 502, 503 or 504. A request that may have
//! reached an upstream with a body is never sent twice, and nothing is retried once a response
//! is on its way to the client (retries happen before the pipeline sees a response head).
//!
//! The budget (linkerd's retry budget): over the last `RETRY_BUDGET_WINDOW`, retries may be at
//! most `budget` of the pool's requests, plus `RETRY_BUDGET_MIN_PER_SECOND` per second of the
//! window, so a full outage costs the upstream a fifth more attempts, not twice as many.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use http::{Method, StatusCode};

use crate::constants::{RETRY_BUDGET_MIN_PER_SECOND, RETRY_BUDGET_WINDOW};

/// Why an attempt is retried (the `reason` label of the retry metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Nothing was sent.
    Connect,
    /// The connection failed after the request went out, before any response byte.
    Reset,
    Timeout,
    /// 502, 503 or 504.
    Status,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::Connect => "connect",
            Reason::Reset => "reset",
            Reason::Timeout => "timeout",
            Reason::Status => "status",
        }
    }
}

/// RFC 9110 §9.2.2's idempotent methods that the SPEC retries (TRACE is not forwarded as such).
pub fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

/// The answers that say "another replica may do better".
pub fn retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 502..=504)
}

/// Requests and retries per second of the window, in a ring of one-second buckets.
pub struct Budget {
    percent: f64,
    buckets: Mutex<Ring>,
    started: Instant,
}

const SECONDS: usize = RETRY_BUDGET_WINDOW.as_secs() as usize;

struct Ring {
    /// (second since `started`, requests, retries) per slot.
    slots: [(u64, u64, u64); SECONDS],
}

impl Budget {
    pub fn new(percent: f64) -> Budget {
        Budget {
            percent,
            buckets: Mutex::new(Ring {
                slots: [(u64::MAX, 0, 0); SECONDS],
            }),
            started: Instant::now(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn slot(ring: &mut Ring, second: u64) -> &mut (u64, u64, u64) {
        let slot = &mut ring.slots[(second % SECONDS as u64) as usize];
        if slot.0 != second {
            *slot = (second, 0, 0);
        }
        slot
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// One request to the pool (its first attempt).
    pub fn request(&self) {
        let second = self.now();
        let mut ring = self.lock();
        Self::slot(&mut ring, second).1 += 1;
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn try_retry(&self) -> bool {
        let second = self.now();
        let mut ring = self.lock();
        let oldest = second.saturating_sub(SECONDS as u64 - 1);
        let (requests, retries) = ring
            .slots
            .iter()
            .filter(|(at, _, _)| *at != u64::MAX && *at >= oldest && *at <= second)
            .fold((0u64, 0u64), |(q, r), (_, q1, r1)| (q + q1, r + r1));
        let allowed = (requests as f64) * self.percent / 100.0
            + (RETRY_BUDGET_MIN_PER_SECOND * SECONDS as u64) as f64;
        if (retries as f64) < allowed {
            Self::slot(&mut ring, second).2 += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_its_share_plus_the_floor() {
        let budget = Budget::new(20.0);
        for _ in 0..1000 {
            budget.request();
        }
        let granted = (0..1000).filter(|_| budget.try_retry()).count();
        // 20% of 1000 plus 3 per second over 10 s (the test runs within one window).
        assert_eq!(granted, 200 + 30);
    }

    #[test]
    fn a_zero_budget_still_has_the_floor() {
        let budget = Budget::new(0.0);
        let granted = (0..100).filter(|_| budget.try_retry()).count();
        assert_eq!(granted, 30);
    }

    #[test]
    fn only_idempotent_methods_and_gateway_statuses() {
        assert!(idempotent(&Method::GET) && idempotent(&Method::DELETE));
        assert!(!idempotent(&Method::POST) && !idempotent(&Method::PATCH));
        assert!(retryable_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!retryable_status(StatusCode::INTERNAL_SERVER_ERROR));
    }
}
