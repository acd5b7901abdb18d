//! The diffsym command line.
fn main() {}
