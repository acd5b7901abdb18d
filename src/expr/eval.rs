//! eval (placeholder).
