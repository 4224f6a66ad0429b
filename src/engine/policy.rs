//! Policies: the order in which backends are offered a request.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::profile::Policy;

/// The environment variable that seeds the `random` policy, for repeatable runs.
pub const SEED_ENV: &str = "BATON_SEED";

/// Turns a policy into an order of backend indices, request by request.
#[derive(Debug)]
pub struct Router {
    policy: Policy,
    len: usize,
    next_start: AtomicUsize,
    rng: Mutex<StdRng>,
}

impl Router {
    /// A router over `len` backends.
    pub fn new(policy: Policy, len: usize) -> Self {
        let seed = std::env::var(SEED_ENV)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self::with_rng(policy, len, rng)
    }

    /// A router with an explicit random source (tests).
    pub fn with_rng(policy: Policy, len: usize, rng: StdRng) -> Self {
        Self {
            policy,
            len,
            next_start: AtomicUsize::new(0),
            rng: Mutex::new(rng),
        }
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The order in which to offer the next request.
    ///
    /// Every backend appears once, so a request that fails everywhere has tried
    /// each backend exactly once.
    pub fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len).collect();
        match self.policy {
            Policy::Failover => {}
            Policy::RoundRobin => {
                if self.len > 0 {
                    let start = self.next_start.fetch_add(1, Ordering::Relaxed) % self.len;
                    order.rotate_left(start);
                }
            }
            Policy::Random => {
                let mut rng = match self.rng.lock() {
                    Ok(rng) => rng,
                    Err(poisoned) => poisoned.into_inner(),
                };
                order.shuffle(&mut *rng);
            }
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_keeps_listed_order() {
        let r = Router::new(Policy::Failover, 3);
        assert_eq!(r.order(), vec![0, 1, 2]);
        assert_eq!(r.order(), vec![0, 1, 2]);
    }

    #[test]
    fn roundrobin_rotates_the_start() {
        let r = Router::new(Policy::RoundRobin, 3);
        assert_eq!(r.order(), vec![0, 1, 2]);
        assert_eq!(r.order(), vec![1, 2, 0]);
        assert_eq!(r.order(), vec![2, 0, 1]);
        assert_eq!(r.order(), vec![0, 1, 2]);
    }

    #[test]
    fn random_is_a_permutation_and_repeatable_with_a_seed() {
        let a = Router::with_rng(Policy::Random, 5, StdRng::seed_from_u64(3));
        let b = Router::with_rng(Policy::Random, 5, StdRng::seed_from_u64(3));
        for _ in 0..10 {
            let oa = a.order();
            assert_eq!(oa, b.order());
            let mut sorted = oa.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        }
    }

    #[test]
    fn empty_router_gives_empty_order() {
        assert!(Router::new(Policy::RoundRobin, 0).order().is_empty());
    }
}
