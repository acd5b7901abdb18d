//! simplify (placeholder).
