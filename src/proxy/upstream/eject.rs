//! Passive outlier ejection, one small state machine per endpoint (as linkerd2-proxy's failure
//! accrual): `consecutive_failures` failures in a row (connect failures, resets, timeouts,
//! 502/503/504 answers) eject the endpoint for `base_time`, doubled each time the same endpoint
//! is ejected again, up to `constants::EJECT_MAX_TIME`. When the time is up, one trial request
//! may go to it: a success brings it back (and resets its count), a failure ejects it again at
//! once. The pool never ejects more than `max_percent` of its endpoints, and always keeps one.
//!
//! The lock is per endpoint and never held across an await.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::EjectConfig;
use crate::constants::EJECT_MAX_TIME;

#[derive(Debug, Default)]
pub struct Ejection {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Failures in a row since the last success.
    failures: u32,
    /// Set while ejected (and while its trial request is out).
    until: Option<Instant>,
    /// The trial request after an ejection is under way.
    trial: bool,
    /// Ejections so far, for the doubling.
    times: u32,
}

/// What one failure did to the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Counted,
    /// Ejected now, for this long.
    Ejected(Duration),
}

impl Ejection {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few counters: consistent whatever panicked while holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a request may go here now: not ejected, or ejected with its time up and no
    /// trial request out yet.
    pub fn available(&self, now: Instant) -> bool {
        let state = self.lock();
        match state.until {
            None => true,
            Some(until) => now >= until && !state.trial,
        }
    }

    /// Whether the endpoint counts as ejected (for `max_percent`, the metrics and /upstreams).
    pub fn is_ejected(&self) -> bool {
        self.lock().until.is_some()
    }

    /// Ejections so far.
    pub fn times(&self) -> u32 {
        self.lock().times
    }

    /// A request is about to go here: if its ejection time is up, this request is the trial.
    pub fn begin(&self, now: Instant) {
        let mut state = self.lock();
        if state.until.is_some_and(|until| now >= until) {
            state.trial = true;
        }
    }

    /// A success: the count starts again, and an endpoint on trial is back.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        state.failures = 0;
        state.until = None;
        state.trial = false;
    }

    /// A failure. `may_eject` says whether the pool's `max_percent` leaves room for one more
    /// ejected endpoint (the caller counts that before, without this endpoint's lock held).
    pub fn failed(&self, config: &EjectConfig, now: Instant, may_eject: bool) -> Failure {
        let mut state = self.lock();
        state.failures = state.failures.saturating_add(1);
        let on_trial = state.trial;
        let already_out = state.until.is_some() && !on_trial;
        if already_out {
            return Failure::Counted; // a request sent before the ejection, failing late
        }
        if !on_trial && (state.failures < config.consecutive_failures || !may_eject) {
            return Failure::Counted;
        }
        let factor = 1u32.checked_shl(state.times.min(16)).unwrap_or(u32::MAX);
        let time = config
            .base_time
            .checked_mul(factor)
            .unwrap_or(EJECT_MAX_TIME)
            .min(EJECT_MAX_TIME);
        state.times = state.times.saturating_add(1);
        state.until = Some(now + time);
        state.trial = false;
        state.failures = 0;
        Failure::Ejected(time)
    }
}

/// Whether one more of `endpoints` may be ejected when `ejected` already are: at most
/// `max_percent` of them, and never the last one.
pub fn room_for_one_more(ejected: usize, endpoints: usize, max_percent: u8) -> bool {
    let after = ejected + 1;
    after < endpoints && after * 100 <= endpoints * usize::from(max_percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EjectConfig {
        EjectConfig {
            consecutive_failures: 3,
            base_time: Duration::from_secs(10),
            max_percent: 50,
        }
    }

    #[test]
    fn the_configured_failures_in_a_row_eject_and_a_success_resets_the_count() {
        let e = Ejection::default();
        let now = Instant::now();
        assert_eq!(e.failed(&config(), now, true), Failure::Counted);
        assert_eq!(e.failed(&config(), now, true), Failure::Counted);
        e.succeeded();
        assert_eq!(e.failed(&config(), now, true), Failure::Counted);
        assert_eq!(e.failed(&config(), now, true), Failure::Counted);
        assert_eq!(
            e.failed(&config(), now, true),
            Failure::Ejected(Duration::from_secs(10))
        );
        assert!(!e.available(now));
        assert!(e.available(now + Duration::from_secs(10)));
    }

    #[test]
    fn one_trial_after_the_time_and_a_failed_trial_doubles_the_time() {
        let e = Ejection::default();
        let now = Instant::now();
        for _ in 0..3 {
            e.failed(&config(), now, true);
        }
        let later = now + Duration::from_secs(10);
        e.begin(later);
        assert!(!e.available(later), "only one trial request at a time");
        assert_eq!(
            e.failed(&config(), later, true),
            Failure::Ejected(Duration::from_secs(20))
        );
        let again = later + Duration::from_secs(20);
        e.begin(again);
        e.succeeded();
        assert!(e.available(again) && !e.is_ejected());
    }

    #[test]
    fn the_time_is_capped_at_five_minutes() {
        let e = Ejection::default();
        let mut now = Instant::now();
        for _ in 0..3 {
            e.failed(&config(), now, true);
        }
        let mut last = Failure::Counted;
        for _ in 0..10 {
            now += EJECT_MAX_TIME;
            e.begin(now);
            last = e.failed(&config(), now, true);
        }
        assert_eq!(last, Failure::Ejected(EJECT_MAX_TIME));
    }

    #[test]
    fn max_percent_and_the_last_endpoint_are_held() {
        assert!(room_for_one_more(0, 3, 50));
        assert!(!room_for_one_more(1, 3, 50));
        assert!(!room_for_one_more(0, 1, 100), "the last endpoint stays");
        assert!(room_for_one_more(1, 3, 100));
        assert!(!room_for_one_more(2, 3, 100));
        assert!(!room_for_one_more(0, 3, 0), "0 turns ejection off");
    }
}
