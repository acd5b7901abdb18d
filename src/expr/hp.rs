//! hp (placeholder).
