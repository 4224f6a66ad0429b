//! ndjson (being written).
