//! integrate (placeholder).
