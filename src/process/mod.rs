//! Forward processes: lowering .dsym definitions into exact expressions (placeholder).
