//! Scoped work allowances: a thread-local count of what a task may still spend, set
//! around the task and charged, on its way out, to the enclosing scope. The polynomial
//! normal forms (`poly`) and high-precision evaluation (`hp`) each keep one.

use std::cell::Cell;
use std::thread::LocalKey;

/// The allowance outside every scope: unbounded, and never charged. A thread runs many
/// tasks one after another (a fuzzer's worker, thousands of cases): were work outside a
/// scope charged to it, one charge that saturates (`hp` of a value of 2^(10^9)) left it
/// at 0, and every later scope on the thread started with nothing to spend.
pub(crate) const UNBOUNDED: u64 = u64::MAX;

/// Charges `units` to the allowance in `left`: false, and the allowance spent, where it
/// has less than that. An unbounded allowance stays so.
pub(crate) fn spend(left: &'static LocalKey<Cell<u64>>, units: u64) -> bool {
    left.with(|w| {
        let have = w.get();
        if have == UNBOUNDED {
            true
        } else if units > have {
            w.set(0);
            false
        } else {
            w.set(have - units);
            true
        }
    })
}

/// Whether the allowance in `left` is outside every scope (as a task must leave it).
pub(crate) fn at_rest(left: &'static LocalKey<Cell<u64>>) -> bool {
    left.with(Cell::get) == UNBOUNDED
}

/// `task` run with the allowance in `left` set to `min(units, what is left outside)`; its
/// result and what it spent, which is charged to the enclosing scope too (nothing is to
/// an unbounded one). The enclosing allowance is restored however the task ends, a panic
/// that a caller catches included.
pub(crate) fn scoped<R>(
    left: &'static LocalKey<Cell<u64>>,
    units: u64,
    task: impl FnOnce() -> R,
) -> (R, u64) {
    /// Puts the enclosing allowance back, less what the scope spent.
    struct Restore {
        left: &'static LocalKey<Cell<u64>>,
        outer: u64,
        budget: u64,
    }
    impl Restore {
        fn spent(&self) -> u64 {
            self.budget - self.left.with(Cell::get).min(self.budget)
        }
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            let spent = self.spent();
            let outer = if self.outer == UNBOUNDED {
                UNBOUNDED
            } else {
                self.outer - spent.min(self.outer)
            };
            self.left.with(|w| w.set(outer));
        }
    }
    let outer = left.with(Cell::get);
    // Within a scope the allowance is finite, so that it is charged.
    let budget = units.min(outer).min(UNBOUNDED - 1);
    left.with(|w| w.set(budget));
    let restore = Restore {
        left,
        outer,
        budget,
    };
    let r = task();
    let spent = restore.spent();
    drop(restore);
    (r, spent)
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static LEFT: Cell<u64> = const { Cell::new(UNBOUNDED) };
    }

    #[test]
    fn work_outside_a_scope_leaves_the_next_scope_its_allowance() {
        // A charge that saturates, outside every scope, used to leave 0 behind.
        assert!(spend(&LEFT, u64::MAX));
        assert_eq!(LEFT.with(Cell::get), UNBOUNDED);
        let (ok, spent) = scoped(&LEFT, 100, || spend(&LEFT, 60) && spend(&LEFT, 30));
        assert!(ok);
        assert_eq!(spent, 90);
        assert_eq!(LEFT.with(Cell::get), UNBOUNDED);
        // Within a scope, what a nested one spends is charged, and running out fails.
        let (_, spent) = scoped(&LEFT, 100, || {
            let (ok, inner) = scoped(&LEFT, 1_000, || spend(&LEFT, 70));
            assert!(ok && inner == 70);
            assert_eq!(LEFT.with(Cell::get), 30);
            assert!(!spend(&LEFT, 31));
        });
        assert_eq!(spent, 100);
        assert_eq!(LEFT.with(Cell::get), UNBOUNDED);
    }

    #[test]
    fn a_caught_panic_in_a_scope_restores_the_enclosing_allowance() {
        scoped(&LEFT, 500, || {
            let caught = std::panic::catch_unwind(|| {
                scoped(&LEFT, 100, || {
                    spend(&LEFT, 40);
                    panic!("inside the scope");
                })
            });
            assert!(caught.is_err());
            assert_eq!(LEFT.with(Cell::get), 460);
        });
        assert_eq!(LEFT.with(Cell::get), UNBOUNDED);
    }
}
