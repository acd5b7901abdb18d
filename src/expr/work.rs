//! Scoped work allowances: a thread-local count of what a task may still spend, set
//! around the task and charged, on its way out, to the enclosing scope. The polynomial
//! normal forms (`poly`) and high-precision evaluation (`hp`) each keep one.

use std::cell::Cell;
use std::thread::LocalKey;

/// `task` run with the allowance in `left` set to `min(units, what is left outside)`; its
/// result and what it spent, which is charged to the enclosing scope too.
pub(crate) fn scoped<R>(
    left: &'static LocalKey<Cell<u64>>,
    units: u64,
    task: impl FnOnce() -> R,
) -> (R, u64) {
    let outer = left.with(Cell::get);
    let budget = units.min(outer);
    left.with(|w| w.set(budget));
    let r = task();
    let spent = budget - left.with(Cell::get);
    left.with(|w| w.set(outer - spent));
    (r, spent)
}
