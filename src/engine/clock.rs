//! The engine's clock: wall-clock milliseconds that move with `tokio::time`.
//!
//! Breaker and TPM state is persisted between one-shot runs, so its timestamps must
//! mean the same thing in the next process: milliseconds since the Unix epoch. The
//! engine's tests, on the other hand, run under `#[tokio::test(start_paused = true)]`
//! and move time with `tokio::time::advance`; a plain `SystemTime::now()` would not
//! notice. [`now_ms`] serves both: the wall time is read once per process, together
//! with a `tokio::time::Instant`, and every later reading adds the tokio time elapsed
//! since. In production tokio's clock is the monotonic system clock, so readings also
//! never jump when NTP or the user changes the wall clock mid-run; under a paused
//! runtime they move exactly as far as the test advances.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Wall time (ms since the epoch) and the tokio instant at which it was read.
static ANCHOR: OnceLock<(u64, Instant)> = OnceLock::new();

/// Milliseconds since the Unix epoch, measured through `tokio::time` (see the
/// module docs for why).
///
/// The anchor is taken on the first call. A later reading from a different tokio
/// runtime (parallel paused tests each have their own clock) may lie before the
/// anchor; the result then counts back from it instead of sticking at the anchor, so
/// within one runtime the reading always moves exactly with that runtime's clock.
pub fn now_ms() -> u64 {
    let (wall, anchor) = *ANCHOR.get_or_init(|| (wall_now_ms(), Instant::now()));
    let now = Instant::now();
    if now >= anchor {
        wall.saturating_add(floor_ms(now - anchor))
    } else {
        // floor(now - anchor) for a negative difference is -ceil(anchor - now).
        wall.saturating_sub(ceil_ms(anchor - now))
    }
}

fn wall_now_ms() -> u64 {
    // A clock set before 1970 is not worth failing over: it reads as the epoch.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, floor_ms)
}

fn floor_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn ceil_ms(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn now_ms_moves_with_paused_tokio_time() {
        let before = now_ms();
        tokio::time::advance(Duration::from_secs(90)).await;
        let after = now_ms();
        assert_eq!(after - before, 90_000);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(now_ms() - after, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn now_ms_stands_still_while_paused() {
        let a = now_ms();
        let b = now_ms();
        assert_eq!(a, b);
    }

    #[test]
    fn now_ms_is_epoch_milliseconds() {
        // After 2020-01-01: a wall-clock reading, not time since boot.
        assert!(now_ms() > 1_577_836_800_000);
    }

    #[test]
    fn millisecond_rounding() {
        assert_eq!(floor_ms(Duration::from_micros(1_999)), 1);
        assert_eq!(ceil_ms(Duration::from_micros(1_001)), 2);
        assert_eq!(ceil_ms(Duration::from_millis(3)), 3);
    }
}
