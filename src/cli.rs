//! The command line: argument parsing, IO and printing (placeholder).
