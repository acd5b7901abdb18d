//! range (placeholder).
