//! verify (placeholder).
