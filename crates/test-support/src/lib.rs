//! Fixtures for baton's integration tests.
