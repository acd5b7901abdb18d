//! print (placeholder).
