//! The [`Context`] a transaction's contract calls run in: reads through the
//! transaction's own writes to the block's view, writes buffered until the
//! transaction ends, events, and depth-bounded calls to other contracts.

use crate::block::Event;
use crate::config::ChannelConfig;
use crate::contract::{
    BlockInfo, CALL_DEPTH_MAX, Context, Contract, ContractError, Contracts, EVENT_BYTES_MAX,
    EVENTS_PER_TX_MAX, KEY_BYTES_MAX, RANGE_ROWS_MAX, VALUE_BYTES_MAX, WRITES_PER_TX_MAX,
};
use crate::crypto::Hash;
use crate::identity::Identity;
use crate::state::{Overlay, StateView, merged_range};
use std::sync::Arc;

/// What a finished transaction leaves behind.
#[derive(Debug, Default)]
pub struct TxEffects {
    /// Final value per full state key (`None` = deleted).
    pub writes: Overlay,
    /// Events in emission order.
    pub events: Vec<Event>,
}

/// The context of one transaction.
pub struct TxContext<'a> {
    base: &'a dyn StateView,
    contracts: &'a Contracts,
    config: &'a ChannelConfig,
    block: &'a BlockInfo,
    caller: &'a Identity,
    tx_id: Hash,
    /// The contract called by the transaction (or query).
    top: &'a str,
    /// Contracts called from it, innermost last; the contract whose key
    /// space is in use is the last of `top` and these. Kept apart from
    /// `top` so that a transaction that calls no other contract allocates
    /// no call stack.
    nested: Vec<String>,
    writes: Overlay,
    events: Vec<Event>,
    read_only: bool,
}

fn storage(e: crate::store::StoreError) -> ContractError {
    ContractError::Storage(e.to_string())
}

fn check_key(key: &[u8]) -> Result<(), ContractError> {
    if key.len() > KEY_BYTES_MAX {
        return Err(ContractError::LimitExceeded(format!(
            "key of {} bytes > {KEY_BYTES_MAX}",
            key.len()
        )));
    }
    Ok(())
}

impl<'a> TxContext<'a> {
    /// A context for a call of `contract` by `caller`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        base: &'a dyn StateView,
        contracts: &'a Contracts,
        config: &'a ChannelConfig,
        block: &'a BlockInfo,
        caller: &'a Identity,
        tx_id: Hash,
        contract: &'a str,
        read_only: bool,
    ) -> TxContext<'a> {
        TxContext {
            base,
            contracts,
            config,
            block,
            caller,
            tx_id,
            top: contract,
            nested: Vec::new(),
            writes: Overlay::new(),
            events: Vec::new(),
            read_only,
        }
    }

    fn current(&self) -> &str {
        self.nested.last().map_or(self.top, String::as_str)
    }

    /// Contracts on the call stack, the top-level one included.
    fn depth(&self) -> usize {
        1 + self.nested.len()
    }

    fn full_key(&self, key: &[u8]) -> Vec<u8> {
        crate::contract::state_key(self.current(), key)
    }

    fn check_writable(&self) -> Result<(), ContractError> {
        if self.read_only {
            return Err(ContractError::Refused(
                "a query cannot write state or emit events".into(),
            ));
        }
        Ok(())
    }

    fn record_write(&mut self, full: Vec<u8>, value: Option<Vec<u8>>) -> Result<(), ContractError> {
        if !self.writes.contains_key(&full) && self.writes.len() >= WRITES_PER_TX_MAX {
            return Err(ContractError::LimitExceeded(format!(
                "more than {WRITES_PER_TX_MAX} keys written in one transaction"
            )));
        }
        self.writes.insert(full, value);
        Ok(())
    }

    /// Finds a contract: natives first, then deployed ones.
    pub fn resolve(&self, name: &str) -> Result<Arc<dyn Contract>, ContractError> {
        if let Some(c) = self.contracts.native(name) {
            return Ok(c.clone());
        }
        if let Some(d) = self.contracts.deployed()
            && let Some(c) = d.load(name, self)?
        {
            return Ok(c);
        }
        Err(ContractError::UnknownContract(name.to_string()))
    }

    /// Runs the top-level call.
    pub fn run(&mut self, method: &str, args: &[u8]) -> Result<Vec<u8>, ContractError> {
        let contract = self.resolve(self.current())?;
        contract.call(self, method, args)
    }

    /// Ends the transaction, returning its writes and events.
    pub fn finish(self) -> TxEffects {
        TxEffects {
            writes: self.writes,
            events: self.events,
        }
    }
}

/// Reads inside a transaction see its own writes first.
impl StateView for TxContext<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    fn range(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<crate::store::Rows, crate::store::StoreError> {
        merged_range(self.base, &self.writes, start, end, limit)
    }
}

impl Context for TxContext<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ContractError> {
        check_key(key)?;
        StateView::get(self, &self.full_key(key)).map_err(storage)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), ContractError> {
        self.check_writable()?;
        check_key(key)?;
        if value.len() > VALUE_BYTES_MAX {
            return Err(ContractError::LimitExceeded(format!(
                "value of {} bytes > {VALUE_BYTES_MAX}",
                value.len()
            )));
        }
        let full = self.full_key(key);
        self.record_write(full, Some(value.to_vec()))
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), ContractError> {
        self.check_writable()?;
        check_key(key)?;
        let full = self.full_key(key);
        self.record_write(full, None)
    }

    fn range(
        &mut self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<crate::store::Rows, ContractError> {
        check_key(start)?;
        if let Some(e) = end {
            check_key(e)?;
        }
        let full_start = self.full_key(start);
        // Without an end, the range stops at the end of this contract's key
        // space: the name followed by byte 1 sorts after every name\0key.
        let full_end = match end {
            Some(e) => self.full_key(e),
            None => {
                let mut k = self.current().as_bytes().to_vec();
                k.push(1);
                k
            }
        };
        let prefix_len = self.current().len() + 1;
        let rows = StateView::range(
            self,
            &full_start,
            Some(&full_end),
            limit.min(RANGE_ROWS_MAX),
        )
        .map_err(storage)?;
        Ok(rows
            .into_iter()
            .map(|(k, v)| (k[prefix_len..].to_vec(), v))
            .collect())
    }

    fn caller(&self) -> &Identity {
        self.caller
    }

    fn calling_contract(&self) -> Option<&str> {
        match self.nested.len() {
            0 => None,
            1 => Some(self.top),
            n => Some(self.nested[n - 2].as_str()),
        }
    }

    fn block(&self) -> &BlockInfo {
        self.block
    }

    fn config(&self) -> &ChannelConfig {
        self.config
    }

    fn tx_id(&self) -> &Hash {
        &self.tx_id
    }

    fn emit(&mut self, name: &str, data: &[u8]) -> Result<(), ContractError> {
        self.check_writable()?;
        if self.events.len() >= EVENTS_PER_TX_MAX {
            return Err(ContractError::LimitExceeded(format!(
                "more than {EVENTS_PER_TX_MAX} events"
            )));
        }
        if data.len() > EVENT_BYTES_MAX || name.len() > KEY_BYTES_MAX {
            return Err(ContractError::LimitExceeded(format!(
                "event of {} bytes > {EVENT_BYTES_MAX}",
                data.len()
            )));
        }
        self.events.push(Event {
            contract: self.current().to_string(),
            name: name.to_string(),
            data: data.to_vec(),
        });
        Ok(())
    }

    fn call(
        &mut self,
        contract: &str,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        if self.depth() >= CALL_DEPTH_MAX.min(self.config.wasm.call_depth_max as usize + 1) {
            return Err(ContractError::LimitExceeded(format!(
                "call depth above {}",
                self.depth() - 1
            )));
        }
        if contract.starts_with('_') {
            return Err(ContractError::NotAuthorized(format!(
                "system contract {contract:?} cannot be called from a contract"
            )));
        }
        let callee = self.resolve(contract)?;
        // A failed nested call leaves no trace even if the caller goes on.
        let saved_writes = self.writes.clone();
        let saved_events = self.events.len();
        self.nested.push(contract.to_string());
        let out = callee.call(self, method, args);
        self.nested.pop();
        if out.is_err() {
            self.writes = saved_writes;
            self.events.truncate(saved_events);
        }
        out
    }
}
