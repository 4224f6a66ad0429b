//! gemini (being written).
