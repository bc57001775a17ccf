//! The recent refusals and upstream errors the console shows, and decisions per minute by
//! outcome over the last hour, kept in memory and bounded.
//!
//! The request path does two things here, neither of which allocates more than the record's
//! `Arc` or wakes anything: one relaxed atomic add per request (the per-outcome counters the
//! chart is drawn from), and for a refusal or an upstream error a push of the record into the
//! ring of the last `DECISIONS_KEPT` records, under a lock held only for the push (readers hold
//! it only to copy the ring's `Arc`s, a few microseconds for the whole ring). No channel, no
//! collector task to wake: waking one cost a refusal more than the rest together (measured:
//! docs/benchmarks.md, "The console's decisions ring"). The console's live stream polls the
//! ring for records newer than the last it sent (`since`); a sampler task takes the counters
//! as each minute starts. The record holds only what SPEC lists: time, method, path without the
//! query, route, status, reason, issuer, client id, request id; never a token, proof, cookie,
//! query string or other header value.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Records kept for the console's decisions page.
pub const DECISIONS_KEPT: usize = 1_000;
/// Minutes of per-outcome counts kept for the chart.
pub const MINUTES_KEPT: usize = 60;
/// Longest path kept in a record; a longer one is cut (the log has it whole).
const PATH_KEPT: usize = 512;

/// The outcomes the chart counts, in its legend's order.
pub const OUTCOMES: [&str; 4] = ["allow", "deny", "shadow_deny", "upstream_error"];

/// One refusal or upstream error.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    /// Increasing from 1 (set when kept); the live stream's event id.
    pub id: u64,
    pub at: SystemTime,
    pub method: http::Method,
    /// The path as asked, without the query.
    pub path: String,
    pub route: Option<String>,
    pub status: u16,
    /// `deny` or `upstream_error`.
    pub decision: &'static str,
    pub reason: &'static str,
    pub issuer: Option<Arc<str>>,
    pub client_id: Option<String>,
    pub request_id: String,
}

/// One minute's counts by outcome (`OUTCOMES`' order); `minute` is Unix seconds / 60.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteCounts {
    pub minute: u64,
    pub counts: [u64; 4],
}

#[derive(Default)]
struct Kept {
    ring: VecDeque<Arc<DecisionRecord>>,
    /// The id of the last record kept.
    last_id: u64,
    /// Refusals by reason. A list, not a map: the reasons are a few dozen `&'static str`s, found
    /// by address first, which costs less than hashing the string (measured: docs/benchmarks.md,
    /// "The console's decisions ring").
    reasons: Vec<(&'static str, u64)>,
    /// Cumulative counts at the start of each kept minute.
    samples: VecDeque<MinuteCounts>,
}

/// The gateway's side: cheap to call from the request path.
pub struct Decisions {
    counts: Arc<[AtomicU64; 4]>,
    kept: Arc<Mutex<Kept>>,
}

impl Decisions {
    /// Starts the minute sampler on the current Tokio runtime.
    pub fn start() -> Decisions {
        let decisions = Decisions {
            counts: Arc::new(Default::default()),
            kept: Arc::new(Mutex::new(Kept::default())),
        };
        tokio::spawn(sample(
            Arc::downgrade(&decisions.kept),
            decisions.counts.clone(),
        ));
        decisions
    }

    /// Counts one request's outcome (`allow`, `deny`, `shadow_deny`, `upstream_error`).
    pub fn count(&self, decision: &str) {
        if let Some(slot) = OUTCOMES.iter().position(|o| *o == decision) {
            self.counts[slot].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether an outcome is one the decisions page lists.
    pub fn kept(decision: &str) -> bool {
        decision == "deny" || decision == "upstream_error"
    }

    /// Keeps a record, the oldest giving way when the ring is full.
    pub fn record(&self, mut record: DecisionRecord) {
        if record.path.len() > PATH_KEPT {
            let mut cut = PATH_KEPT;
            while !record.path.is_char_boundary(cut) {
                cut -= 1;
            }
            record.path.truncate(cut);
            record.path.push('…');
        }
        let reason = record.reason;
        let mut record = Arc::new(record);
        let evicted = {
            let mut kept = self.lock();
            kept.last_id += 1;
            if let Some(record) = Arc::get_mut(&mut record) {
                record.id = kept.last_id;
            }
            count_reason(&mut kept.reasons, reason);
            let evicted = if kept.ring.len() == DECISIONS_KEPT {
                kept.ring.pop_front()
            } else {
                None
            };
            kept.ring.push_back(record);
            evicted
        };
        // Freed after the lock is let go.
        drop(evicted);
    }

    /// The kept records, newest first.
    pub fn recent(&self) -> Vec<Arc<DecisionRecord>> {
        self.lock().ring.iter().rev().cloned().collect()
    }

    /// The kept records newer than `id`, oldest first (the live stream's next events), and the
    /// newest id (to ask from next time).
    pub fn since(&self, id: u64) -> (Vec<Arc<DecisionRecord>>, u64) {
        let kept = self.lock();
        let newer = kept.last_id.saturating_sub(id).min(kept.ring.len() as u64) as usize;
        let skip = kept.ring.len() - newer;
        (kept.ring.iter().skip(skip).cloned().collect(), kept.last_id)
    }

    /// Refusal reasons by count, most frequent first, since the gateway started.
    pub fn top_reasons(&self, limit: usize) -> Vec<(&'static str, u64)> {
        let mut reasons = self.lock().reasons.clone();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        reasons.truncate(limit);
        reasons
    }

    /// Counts per minute over the last hour, oldest first, the current minute last.
    pub fn per_minute(&self) -> Vec<MinuteCounts> {
        let now = self.totals();
        let kept = self.lock();
        let mut out = Vec::with_capacity(kept.samples.len());
        let mut samples = kept.samples.iter().peekable();
        while let Some(sample) = samples.next() {
            let next = samples.peek().map_or(now, |next| next.counts);
            let mut counts = [0; 4];
            for (slot, count) in counts.iter_mut().enumerate() {
                *count = next[slot].saturating_sub(sample.counts[slot]);
            }
            out.push(MinuteCounts {
                minute: sample.minute,
                counts,
            });
        }
        out
    }

    fn totals(&self) -> [u64; 4] {
        totals(&self.counts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A poisoned lock only means a reader panicked; the data is still whole.
        self.kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn totals(counts: &[AtomicU64; 4]) -> [u64; 4] {
    std::array::from_fn(|slot| counts[slot].load(Ordering::Relaxed))
}

fn minute_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 60)
        .unwrap_or_default()
}

fn count_reason(reasons: &mut Vec<(&'static str, u64)>, reason: &'static str) {
    let found = reasons
        .iter()
        .position(|(r, _)| std::ptr::eq(*r, reason))
        .or_else(|| reasons.iter().position(|(r, _)| *r == reason));
    match found {
        Some(at) => reasons[at].1 += 1,
        None => reasons.push((reason, 1)),
    }
}

/// Samples the counters as each minute starts (the chart's bars are the differences). Ends
/// once the gateway has let go of the kept state.
async fn sample(kept: Weak<Mutex<Kept>>, counts: Arc<[AtomicU64; 4]>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Some(kept) = kept.upgrade() else { return };
        let minute = minute_now();
        let mut kept = kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.samples.back().is_none_or(|last| last.minute < minute) {
            if kept.samples.len() == MINUTES_KEPT {
                kept.samples.pop_front();
            }
            kept.samples.push_back(MinuteCounts {
                minute,
                counts: totals(&counts),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(reason: &'static str) -> DecisionRecord {
        DecisionRecord {
            id: 0,
            at: SystemTime::now(),
            method: http::Method::GET,
            path: "/x".repeat(400),
            route: None,
            status: 403,
            decision: "deny",
            reason,
            issuer: None,
            client_id: None,
            request_id: "r".into(),
        }
    }

    #[tokio::test]
    async fn records_are_kept_bounded_counted_and_found_by_id() {
        let decisions = Decisions::start();
        let (none, start) = decisions.since(0);
        assert!(none.is_empty() && start == 0);
        for _ in 0..3 {
            decisions.record(record("insufficient_scope"));
        }
        decisions.record(record("missing_token"));
        decisions.count("deny");
        decisions.count("allow");
        let (new, last) = decisions.since(start);
        assert_eq!(new.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(last, 4);
        assert!(new[0].path.len() <= PATH_KEPT + 3, "long paths are cut");
        assert!(decisions.since(last).0.is_empty());
        assert_eq!(decisions.since(2).0[0].id, 3);
        assert_eq!(
            decisions.top_reasons(5),
            vec![("insufficient_scope", 3), ("missing_token", 1)]
        );
        assert_eq!(decisions.recent()[0].reason, "missing_token");
        let minutes = decisions.per_minute();
        assert!(minutes.len() <= 1);
        if let Some(last) = minutes.last() {
            assert_eq!(last.counts[0] + last.counts[1], 2);
        }
    }

    #[tokio::test]
    async fn the_ring_keeps_the_newest_thousand_and_since_skips_what_left_it() {
        let decisions = Decisions::start();
        for _ in 0..DECISIONS_KEPT + 5 {
            decisions.record(record("missing_token"));
        }
        let recent = decisions.recent();
        assert_eq!(recent.len(), DECISIONS_KEPT);
        assert_eq!(recent[0].id, (DECISIONS_KEPT + 5) as u64);
        assert_eq!(recent[DECISIONS_KEPT - 1].id, 6);
        let (new, last) = decisions.since(0);
        assert_eq!(new.len(), DECISIONS_KEPT, "only what is still kept");
        assert_eq!((new[0].id, last), (6, (DECISIONS_KEPT + 5) as u64));
        assert_eq!(decisions.top_reasons(1), vec![("missing_token", 1_005)]);
    }
}
