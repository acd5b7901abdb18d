//! rules (placeholder).
