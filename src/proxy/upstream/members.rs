//! A pool's current set of endpoints: each `Member` is an endpoint (its connections) with its
//! pool-side state (passive `Ejection`, active `Health`), and `Members` is the set, swapped
//! whole (`ArcSwap`) when DNS discovery finds other addresses. A request loads the set once and
//! balances over that snapshot; an endpoint that leaves the set finishes the requests already
//! sent to it, since their response bodies hold its connection pool and in-flight count.
//! `EndpointState` is what the metrics, `/upstreams` and the console read of one member.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::eject::Ejection;
use super::endpoint::Endpoint;
use super::health::Health;

/// An endpoint with its pool-side state.
pub struct Member {
    pub endpoint: Endpoint,
    pub ejection: Ejection,
    pub health: Health,
}

impl Member {
    /// A member for `endpoint`; `checked` when the pool has active health checks (the checks
    /// get a connection pool of their own).
    pub fn new(endpoint: Endpoint, checked: Option<std::time::Duration>) -> Member {
        let health = Health::new(checked.map(|timeout| endpoint.connections.twin(timeout)));
        Member {
            endpoint,
            ejection: Ejection::default(),
            health,
        }
    }

    /// Whether balancing may pick it now: healthy (or not checked), and not ejected (or its
    /// ejection time is up and its trial request is not out yet).
    pub fn available(&self, now: std::time::Instant) -> bool {
        self.health.is_healthy() && self.ejection.available(now)
    }

    pub fn state(&self) -> EndpointState {
        EndpointState {
            label: self.endpoint.label.clone(),
            in_flight: self.endpoint.in_flight(),
            ejected: self.ejection.is_ejected(),
            ejections: self.ejection.times(),
            healthy: self.health.is_healthy(),
            checks_passed: self.health.passed(),
            checks_failed: self.health.failed(),
        }
    }
}

/// One endpoint as the metrics, `/upstreams` and the console show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointState {
    /// `scheme://authority` (for a discovered endpoint, its address).
    pub label: Arc<str>,
    /// Requests sent to it whose response has not ended.
    pub in_flight: usize,
    /// Taken out by passive ejection now.
    pub ejected: bool,
    /// Times it was ejected so far.
    pub ejections: u32,
    /// Passing its active health checks (true when the pool has none).
    pub healthy: bool,
    pub checks_passed: u64,
    pub checks_failed: u64,
}

/// The pool's endpoints now.
pub struct Members {
    set: ArcSwap<Vec<Arc<Member>>>,
}

impl Members {
    pub fn new(members: Vec<Arc<Member>>) -> Members {
        Members {
            set: ArcSwap::from_pointee(members),
        }
    }

    /// The set as it is now (one atomic load and reference count).
    pub fn current(&self) -> Arc<Vec<Arc<Member>>> {
        self.set.load_full()
    }

    /// Puts `members` in place of the set.
    pub fn replace(&self, members: Vec<Arc<Member>>) {
        self.set.store(Arc::new(members));
    }
}
