//! poly (placeholder).
