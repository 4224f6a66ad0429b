//! mock (being written).
