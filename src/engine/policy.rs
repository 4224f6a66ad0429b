//! Policies: the order in which backends are offered a request.
//!
//! A profile becomes a [`Route`] tree: backends at the leaves, and a group for each
//! load balancer (ordered by its policy) or pool (shuffled each turn).
//! [`Route::order`] flattens the tree for one prompt; a backend reachable twice is
//! offered once, at its first place.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::profile::Policy;

/// The environment variable that seeds the `random` policy, for repeatable runs.
pub(super) const SEED_ENV: &str = "BATON_SEED";

/// Turns a policy into an order of backend indices, request by request.
#[derive(Debug)]
pub(crate) struct Router {
    policy: Policy,
    len: usize,
    next_start: AtomicUsize,
    rng: Mutex<StdRng>,
}

impl Router {
    /// A router over `len` backends.
    pub(crate) fn new(policy: Policy, len: usize) -> Self {
        Self::with_rng(policy, len, seeded_rng())
    }

    /// A router with an explicit random source (tests).
    pub(crate) fn with_rng(policy: Policy, len: usize, rng: StdRng) -> Self {
        Self {
            policy,
            len,
            next_start: AtomicUsize::new(0),
            rng: Mutex::new(rng),
        }
    }

    /// The policy.
    pub(crate) fn policy(&self) -> Policy {
        self.policy
    }

    /// The next turn starts at `cursor` (modulo the length).
    pub(crate) fn start_at(&self, cursor: u64) {
        if self.len > 0 {
            let start = usize::try_from(cursor % self.len as u64).unwrap_or(0);
            self.next_start.store(start, Ordering::Relaxed);
        }
    }

    /// The order in which to offer the next request.
    ///
    /// Every backend appears once, so a request that fails everywhere has tried
    /// each backend exactly once.
    pub(crate) fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len).collect();
        match self.policy {
            // Latency orders by measured first-chunk times, which the driver has.
            Policy::Failover | Policy::Latency => {}
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

/// A pool's name and the member that was asked for, for the "no active member" error.
/// A random source seeded by `BATON_SEED` when set (reproducible runs), else by the OS.
pub(super) fn seeded_rng() -> StdRng {
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    match seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PoolLabel {
    /// The pool key (`poolName ?? name`).
    pub(crate) key: String,
    /// The member that was named.
    pub(crate) pinned: String,
}

/// One place in the order for a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    /// Index of the backend.
    pub(crate) backend: usize,
    /// Index of the pool it was reached through, if any.
    pub(crate) pool: Option<usize>,
}

/// The routing tree of a profile.
#[derive(Debug)]
pub(crate) enum Route {
    /// One backend, by index.
    Backend(usize),
    /// Members ordered by a policy: a load balancer, or a pool when `pool` is set.
    Group {
        /// Orders the children (boxed: a seeded RNG is large).
        router: Box<Router>,
        /// The members.
        children: Vec<Route>,
        /// Set for pools: index into the engine's pool labels.
        pool: Option<usize>,
    },
}

impl Route {
    /// A flat group over backends `0..len` (a plain load balancer).
    pub(crate) fn flat(policy: Policy, len: usize) -> Self {
        Route::Group {
            router: Box::new(Router::new(policy, len)),
            children: (0..len).map(Route::Backend).collect(),
            pool: None,
        }
    }

    /// The order for the next prompt.
    pub(crate) fn order(&self) -> Vec<Slot> {
        let mut out = Vec::new();
        self.collect(&mut out, &mut HashSet::new(), None);
        out
    }

    fn collect(&self, out: &mut Vec<Slot>, seen: &mut HashSet<usize>, pool: Option<usize>) {
        match self {
            Route::Backend(backend) => {
                if seen.insert(*backend) {
                    out.push(Slot {
                        backend: *backend,
                        pool,
                    });
                }
            }
            Route::Group {
                router,
                children,
                pool: own,
            } => {
                for index in router.order() {
                    if let Some(child) = children.get(index) {
                        child.collect(out, seen, own.or(pool));
                    }
                }
            }
        }
    }

    /// The policy at the top of the tree.
    pub(crate) fn policy(&self) -> Policy {
        match self {
            Route::Backend(_) => Policy::Failover,
            Route::Group { router, .. } => router.policy(),
        }
    }

    /// Makes the next round-robin turn of the top group start at `cursor` (modulo
    /// its length): the shared cursor of consecutive processes.
    pub(crate) fn start_at(&self, cursor: u64) {
        if let Route::Group { router, .. } = self {
            router.start_at(cursor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends(order: &[Slot]) -> Vec<usize> {
        order.iter().map(|s| s.backend).collect()
    }

    #[test]
    fn nested_groups_flatten_in_order_and_offer_a_backend_once() {
        // lb(failover: 0, inner(failover: 1, 0), 2)
        let inner = Route::Group {
            router: Box::new(Router::new(Policy::Failover, 2)),
            children: vec![Route::Backend(1), Route::Backend(0)],
            pool: None,
        };
        let top = Route::Group {
            router: Box::new(Router::new(Policy::Failover, 3)),
            children: vec![Route::Backend(0), inner, Route::Backend(2)],
            pool: None,
        };
        assert_eq!(backends(&top.order()), vec![0, 1, 2]);
    }

    #[test]
    fn pool_members_carry_their_pool_and_are_shuffled_each_turn() {
        let pool = Route::Group {
            router: Box::new(Router::with_rng(
                Policy::Random,
                3,
                StdRng::seed_from_u64(9),
            )),
            children: vec![Route::Backend(1), Route::Backend(2), Route::Backend(3)],
            pool: Some(0),
        };
        let top = Route::Group {
            router: Box::new(Router::new(Policy::Failover, 2)),
            children: vec![Route::Backend(0), pool],
            pool: None,
        };
        let mut seen = HashSet::new();
        for _ in 0..20 {
            let order = top.order();
            assert_eq!(
                order[0],
                Slot {
                    backend: 0,
                    pool: None
                }
            );
            assert!(order[1..].iter().all(|s| s.pool == Some(0)));
            let mut members = backends(&order[1..]);
            seen.insert(members.clone());
            members.sort_unstable();
            assert_eq!(members, vec![1, 2, 3]);
        }
        assert!(seen.len() > 1, "the pool order changes between turns");
    }

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
