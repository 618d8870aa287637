//! One fuel budget per transaction, shared by nested WASM calls.
//!
//! A transaction runs on one thread, synchronously, and nested calls go
//! through the engine's `Context::call`, which knows nothing of fuel. So the
//! budget crosses the engine through a thread-local slot that is set only
//! while a WASM contract's `call` host import is running:
//!
//! - the calling contract *lends* its remaining fuel to the slot;
//! - a WASM contract that starts while the slot is set *takes* it as its
//!   budget (instead of the channel's `fuel_per_tx`), and *puts back* what
//!   it did not use when it ends, whatever the outcome;
//! - the lender reads what is left and goes on with it.
//!
//! A native contract in between (WASM → native → WASM) leaves the slot alone,
//! so the budget still flows. A WASM call that starts with the slot empty is
//! the outermost WASM call of its transaction (or of a native's call chain)
//! and gets a fresh `fuel_per_tx`.

use std::cell::Cell;

thread_local! {
    static LENT_FUEL: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Takes the budget lent by an enclosing WASM call, if any.
pub(crate) fn take_lent() -> Option<u64> {
    LENT_FUEL.with(|slot| slot.take())
}

/// Returns unused fuel to the enclosing WASM call.
pub(crate) fn put_back(fuel: u64) {
    LENT_FUEL.with(|slot| {
        debug_assert!(slot.get().is_none(), "the lent budget was taken once");
        slot.set(Some(fuel));
    });
}

/// A loan of fuel to a nested call; restores the slot when dropped, even if
/// the nested call unwinds.
pub(crate) struct Loan {
    lent: u64,
    previous: Option<u64>,
    settled: bool,
}

impl Loan {
    /// Lends `fuel` to whatever runs until [`Loan::settle`].
    pub(crate) fn lend(fuel: u64) -> Loan {
        let previous = LENT_FUEL.with(|slot| slot.replace(Some(fuel)));
        Loan {
            lent: fuel,
            previous,
            settled: false,
        }
    }

    /// Ends the loan: the fuel left (at most what was lent).
    pub(crate) fn settle(mut self) -> u64 {
        let left = LENT_FUEL.with(|slot| slot.replace(self.previous));
        self.settled = true;
        // A nested WASM call that took the budget always puts it back; a
        // native callee never touches it.
        left.unwrap_or(self.lent).min(self.lent)
    }
}

impl Drop for Loan {
    fn drop(&mut self) {
        if !self.settled {
            LENT_FUEL.with(|slot| slot.set(self.previous));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_flows_through_nested_calls() {
        assert_eq!(take_lent(), None);
        let loan = Loan::lend(1_000);
        // A nested WASM call takes it, uses 300, puts back 700.
        let budget = take_lent().expect("lent");
        assert_eq!(budget, 1_000);
        put_back(700);
        // A second nested call in the same host call (through a native).
        let budget = take_lent().expect("put back");
        assert_eq!(budget, 700);
        put_back(650);
        assert_eq!(loan.settle(), 650);
        assert_eq!(take_lent(), None);
    }

    #[test]
    fn native_callee_leaves_budget_untouched() {
        let loan = Loan::lend(42);
        assert_eq!(loan.settle(), 42);
        assert_eq!(take_lent(), None);
    }

    #[test]
    fn dropped_loan_restores_slot() {
        {
            let _loan = Loan::lend(5);
        }
        assert_eq!(take_lent(), None);
    }
}
