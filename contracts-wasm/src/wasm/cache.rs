//! A bounded cache of compiled modules, keyed by code hash. Compiling is the
//! expensive part of loading a deployed contract; the cache never changes a
//! result (compilation is deterministic and eager), only how fast it comes.

use super::validate::CompiledModule;
use productivist_engine::Hash;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Default number of compiled modules kept.
pub const MODULE_CACHE_ENTRIES_DEFAULT: usize = 64;

struct Entry {
    module: Arc<CompiledModule>,
    last_used: u64,
}

struct Inner {
    entries: HashMap<Hash, Entry>,
    /// Logical clock for least-recently-used eviction.
    tick: u64,
}

/// Compiled modules by code hash, least recently used evicted first.
pub struct ModuleCache {
    entries_max: usize,
    inner: Mutex<Inner>,
}

impl ModuleCache {
    /// A cache of at most `entries_max` modules (at least 1).
    pub fn new(entries_max: usize) -> ModuleCache {
        let entries_max = entries_max.max(1);
        ModuleCache {
            entries_max,
            inner: Mutex::new(Inner {
                entries: HashMap::with_capacity(entries_max),
                tick: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The cache holds no invariant a panic elsewhere could break.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The module for `code_hash`, if cached.
    pub fn get(&self, code_hash: &Hash) -> Option<Arc<CompiledModule>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let entry = inner.entries.get_mut(code_hash)?;
        entry.last_used = tick;
        Some(entry.module.clone())
    }

    /// Caches `module`, evicting the least recently used entry when full.
    pub fn insert(&self, module: Arc<CompiledModule>) {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if !inner.entries.contains_key(&module.code_hash) && inner.entries.len() >= self.entries_max
        {
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(h, _)| *h);
            if let Some(h) = oldest {
                inner.entries.remove(&h);
            }
        }
        inner.entries.insert(
            module.code_hash,
            Entry {
                module,
                last_used: tick,
            },
        );
        assert!(inner.entries.len() <= self.entries_max, "cache bounded");
    }

    /// Number of cached modules.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::runtime::new_engine;
    use crate::wasm::validate::compile;

    fn module(engine: &wasmi::Engine, tag: u32) -> Arc<CompiledModule> {
        // Same shape, different data: different code hashes.
        let wat = format!(
            r#"(module (memory (export "memory") 1)
                 (data (i32.const 0) "{tag}")
                 (func (export "alloc") (param i32) (result i32) i32.const 64)
                 (func (export "call") (param i32 i32 i32 i32) (result i32) i32.const 0))"#
        );
        let code = wat::parse_str(wat).expect("wat");
        Arc::new(compile(engine, &code).expect("valid"))
    }

    #[test]
    fn evicts_least_recently_used() {
        let engine = new_engine();
        let cache = ModuleCache::new(2);
        let (a, b, c) = (module(&engine, 1), module(&engine, 2), module(&engine, 3));
        cache.insert(a.clone());
        cache.insert(b.clone());
        assert!(cache.get(&a.code_hash).is_some());
        cache.insert(c.clone());
        assert_eq!(cache.len(), 2);
        assert!(
            cache.get(&b.code_hash).is_none(),
            "b was least recently used"
        );
        assert!(cache.get(&a.code_hash).is_some());
        assert!(cache.get(&c.code_hash).is_some());
    }
}
