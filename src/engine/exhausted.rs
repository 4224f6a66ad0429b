//! What every face says when no backend answered: one message listing each backend
//! and its last reason, and whether trying again later may work.

use super::BackendFailure;
use crate::provider::ErrorClass;

/// Each backend and its last reason, as one message.
pub(crate) fn exhausted_message(reasons: &[BackendFailure]) -> String {
    match reasons {
        [] => "the profile has no backends".into(),
        [only] => format!("{} failed: {}", only.backend, only.reason),
        many => {
            let mut m = String::from("every backend failed:");
            for r in many {
                m.push_str(&format!("\n  {}: {}", r.backend, r.reason));
            }
            m
        }
    }
}

/// `every backend is cooling down; X is expected back in 25s (at 12:00:01 UTC)`.
pub(crate) fn recovery_message(name: &str, wait: std::time::Duration) -> String {
    let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    let at = super::clock::now_ms().saturating_add(wait_ms);
    let secs = wait_ms.div_ceil(1000);
    let human = match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h", secs.div_ceil(3600)),
    };
    format!(
        "every backend is cooling down; {name} is expected back in {human} (at {} UTC)",
        super::decide::utc_time(at)
    )
}

/// True when every reason was transient: the same prompt may work later (exit 75),
/// unlike a bad key or a rejected request.
pub(crate) fn retry_later(reasons: &[BackendFailure]) -> bool {
    !reasons.is_empty() && reasons.iter().all(|r| r.class == ErrorClass::Transient)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(backend: &str, class: ErrorClass) -> BackendFailure {
        BackendFailure {
            backend: backend.into(),
            class,
            reason: "503 Service Unavailable".into(),
        }
    }

    #[test]
    fn retry_later_only_when_every_reason_was_transient() {
        let all = [
            failure("a", ErrorClass::Transient),
            failure("b", ErrorClass::Transient),
        ];
        assert!(retry_later(&all));
        assert_eq!(
            exhausted_message(&all),
            "every backend failed:\n  a: 503 Service Unavailable\n  b: 503 Service Unavailable"
        );
        let mixed = [
            failure("a", ErrorClass::Transient),
            failure("b", ErrorClass::Auth),
        ];
        assert!(!retry_later(&mixed));
        assert!(!retry_later(&[]));
    }

    #[test]
    fn one_backend_and_none_read_plainly() {
        let one = [failure("a", ErrorClass::Auth)];
        assert_eq!(exhausted_message(&one), "a failed: 503 Service Unavailable");
        assert_eq!(exhausted_message(&[]), "the profile has no backends");
    }
}
