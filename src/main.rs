//! The diffsym binary: runs the command line on a thread with a large stack.
//!
//! Inputs are depth-limited by the parser; the large stack is a second line of defence so
//! that no input can overflow it during simplification or printing.

use std::process::ExitCode;

const STACK_BYTES: usize = 256 << 20;

fn main() -> ExitCode {
    let worker = std::thread::Builder::new()
        .name("diffsym".into())
        .stack_size(STACK_BYTES)
        .spawn(|| {
            let stdout = std::io::stdout();
            let stderr = std::io::stderr();
            diffsym::cli::run(std::env::args_os(), &mut stdout.lock(), &mut stderr.lock())
        });
    let code = match worker.map(|h| h.join()) {
        Ok(Ok(code)) => code,
        _ => {
            eprintln!("error: internal error (this is a bug in diffsym; please report it)");
            70
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
