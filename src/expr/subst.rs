//! subst (placeholder).
