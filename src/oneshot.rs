//! oneshot (being written).
