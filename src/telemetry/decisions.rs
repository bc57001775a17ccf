//! The recent refusals and upstream errors the console shows, and decisions per minute by
//! outcome over the last hour, kept in memory and bounded.
//!
//! The request path does two things here, neither of which waits: one relaxed atomic add per
//! request (the per-outcome counters the chart is drawn from), and for a refusal or an upstream
//! error a `try_send` of a small record on a bounded channel (full: the record is dropped and
//! counted, the request never waits). A collector task keeps the ring of the last
//! `DECISIONS_KEPT` records and the refusal reasons' counts, and announces each new record to
//! live listeners (the console's Server-Sent Events); a sampler task takes the counters as each
//! minute starts. What a refusal costs with all this: docs/benchmarks.md, "The console's
//! decisions ring". The record holds only
//! what SPEC lists: time, method, path without the query, route, status, reason, issuer, client
//! id, request id; never a token, proof, cookie, query string or other header value.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, mpsc};

/// Records kept for the console's decisions page.
pub const DECISIONS_KEPT: usize = 1_000;
/// Minutes of per-outcome counts kept for the chart.
pub const MINUTES_KEPT: usize = 60;
const CHANNEL: usize = 1_024;
const LIVE: usize = 256;
/// Longest path kept in a record; a longer one is cut (the log has it whole).
const PATH_KEPT: usize = 512;

/// The outcomes the chart counts, in its legend's order.
pub const OUTCOMES: [&str; 4] = ["allow", "deny", "shadow_deny", "upstream_error"];

/// One refusal or upstream error.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    /// Increasing from 1; the live stream's event id.
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
    /// Refusals by reason. A list, not a map: the reasons are a few dozen `&'static str`s, found
    /// by address first, which costs less than hashing the string (measured: docs/benchmarks.md,
    /// "The console's decisions ring").
    reasons: Vec<(&'static str, u64)>,
    /// Cumulative counts at the start of each kept minute.
    samples: VecDeque<MinuteCounts>,
}

/// The gateway's side: cheap to call from the request path.
pub struct Decisions {
    sender: mpsc::Sender<DecisionRecord>,
    counts: Arc<[AtomicU64; 4]>,
    dropped: Arc<AtomicU64>,
    kept: Arc<Mutex<Kept>>,
    live: broadcast::Sender<Arc<DecisionRecord>>,
}

impl Decisions {
    /// Starts the collector on the current Tokio runtime.
    pub fn start() -> Decisions {
        let (sender, receiver) = mpsc::channel(CHANNEL);
        let (live, _) = broadcast::channel(LIVE);
        let decisions = Decisions {
            sender,
            counts: Arc::new(Default::default()),
            dropped: Arc::new(AtomicU64::new(0)),
            kept: Arc::new(Mutex::new(Kept::default())),
            live,
        };
        tokio::spawn(collect(
            receiver,
            decisions.kept.clone(),
            decisions.live.clone(),
        ));
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

    /// Hands a record to the collector without waiting; dropped (and counted) when it is behind.
    pub fn record(&self, mut record: DecisionRecord) {
        if record.path.len() > PATH_KEPT {
            let mut cut = PATH_KEPT;
            while !record.path.is_char_boundary(cut) {
                cut -= 1;
            }
            record.path.truncate(cut);
            record.path.push('…');
        }
        if self.sender.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The kept records, newest first.
    pub fn recent(&self) -> Vec<Arc<DecisionRecord>> {
        self.lock().ring.iter().rev().cloned().collect()
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

    /// Records dropped because the collector was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// New records as they arrive (the console's live stream).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<DecisionRecord>> {
        self.live.subscribe()
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

/// The collector: keeps the ring and the reason counts, and announces each record. It takes
/// whatever has queued up at once, under one lock. Ends when the gateway (the sender) is
/// dropped.
async fn collect(
    mut receiver: mpsc::Receiver<DecisionRecord>,
    kept: Arc<Mutex<Kept>>,
    live: broadcast::Sender<Arc<DecisionRecord>>,
) {
    const BATCH: usize = 64;
    let mut next_id = 1;
    let mut batch = Vec::with_capacity(BATCH);
    let mut fresh = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        {
            let mut kept = kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for mut record in batch.drain(..) {
                record.id = next_id;
                next_id += 1;
                let record = Arc::new(record);
                if kept.ring.len() == DECISIONS_KEPT {
                    kept.ring.pop_front();
                }
                kept.ring.push_back(record.clone());
                count_reason(&mut kept.reasons, record.reason);
                fresh.push(record);
            }
        }
        for record in fresh.drain(..) {
            // No listener is fine.
            let _ = live.send(record);
        }
    }
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
/// once the gateway and the collector have both let go of the kept state.
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
    async fn records_are_kept_bounded_counted_and_announced() {
        let decisions = Decisions::start();
        let mut live = decisions.subscribe();
        for _ in 0..3 {
            decisions.record(record("insufficient_scope"));
        }
        decisions.record(record("missing_token"));
        decisions.count("deny");
        decisions.count("allow");
        let first = tokio::time::timeout(Duration::from_secs(10), live.recv()).await;
        assert!(matches!(first, Ok(Ok(r)) if r.id == 1 && r.path.len() <= PATH_KEPT + 3));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while decisions.recent().len() < 4 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "records never arrived"
            );
            tokio::task::yield_now().await;
        }
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
}
