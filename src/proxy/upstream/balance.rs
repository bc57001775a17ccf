//! Picking the endpoint of one attempt among those that may take it (`balance`): least
//! outstanding requests of two random choices (power of two choices, as tower's `p2c` and
//! linkerd2-proxy's balancer: nearly as good as asking every endpoint, without a scan or a
//! herd on the one that looked least loaded), or round robin. Lock-free: the choice reads the
//! endpoints' in-flight counters and nothing else.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::Balance;

pub struct Balancer {
    balance: Balance,
    next: AtomicUsize,
}

impl Balancer {
    pub fn new(balance: Balance) -> Balancer {
        Balancer {
            balance,
            next: AtomicUsize::new(0),
        }
    }

    /// The index of the endpoint to try among the `count` endpoints for which `usable` holds,
    /// `load` being an endpoint's requests in flight; `None` when none is usable.
    pub fn pick(
        &self,
        count: usize,
        usable: impl Fn(usize) -> bool,
        load: impl Fn(usize) -> usize,
    ) -> Option<usize> {
        let candidates = (0..count).filter(|&i| usable(i)).count();
        let nth = |n: usize| (0..count).filter(|&i| usable(i)).nth(n);
        match candidates {
            0 => None,
            1 => nth(0),
            _ => match self.balance {
                Balance::RoundRobin => nth(self.next.fetch_add(1, Ordering::Relaxed) % candidates),
                Balance::LeastRequest => {
                    let first = random_below(candidates);
                    let mut second = random_below(candidates - 1);
                    if second >= first {
                        second += 1;
                    }
                    let (a, b) = (nth(first)?, nth(second)?);
                    Some(if load(b) < load(a) { b } else { a })
                }
            },
        }
    }
}

thread_local! {
    /// xorshift64* state, seeded per thread from the standard library's random hasher keys.
    static STATE: Cell<u64> = Cell::new({
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_usize(0);
        hasher.finish() | 1
    });
}

/// A number in `0..bound` (`bound` > 0); not for secrets, only for spreading load.
fn random_below(bound: usize) -> usize {
    let value = STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    });
    // The modulo bias is negligible for a handful of endpoints.
    (value % bound as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_visits_every_usable_endpoint_in_turn() {
        let balancer = Balancer::new(Balance::RoundRobin);
        let picks: Vec<_> = (0..6)
            .filter_map(|_| balancer.pick(4, |i| i != 2, |_| 0))
            .collect();
        assert_eq!(picks, [0, 1, 3, 0, 1, 3]);
    }

    #[test]
    fn least_request_never_picks_the_busiest_of_three() {
        let balancer = Balancer::new(Balance::LeastRequest);
        let load = [5, 0, 1];
        let mut counts = [0; 3];
        for _ in 0..3000 {
            let i = balancer.pick(3, |_| true, |i| load[i]).unwrap_or(9);
            counts[i] += 1;
        }
        // Any two choices include endpoint 1 or 2, which are both less loaded than 0.
        assert_eq!(counts[0], 0, "{counts:?}");
        assert!(counts[1] > counts[2], "{counts:?}");
    }

    #[test]
    fn nothing_usable_is_none_and_one_usable_is_that_one() {
        let balancer = Balancer::new(Balance::LeastRequest);
        assert_eq!(balancer.pick(3, |_| false, |_| 0), None);
        assert_eq!(balancer.pick(3, |i| i == 1, |_| 0), Some(1));
    }
}
