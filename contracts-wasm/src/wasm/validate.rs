//! Deploy-time validation: a module is checked once, when it is deployed or
//! upgraded, so that nothing it could contain is discovered at call time.
//!
//! Refused: modules over the size limit, invalid WASM, any floating-point
//! type or instruction, proposals outside the allowed set (SIMD, threads,
//! reference types, memory64, ...), a start function, any import that is not
//! an ABI host function with its exact signature, a missing or mistyped
//! `memory`, `alloc` or `call` export, an initial memory above the channel's
//! page limit, and tables above [`TABLE_ELEMENTS_MAX`].

use super::abi::{
    AbiType, EXPORT_ALLOC, EXPORT_CALL, EXPORT_MEMORY, HostImport, IMPORT_MODULE,
    TABLE_ELEMENTS_MAX,
};
use productivist_engine::Hash;
use productivist_engine::config::WasmLimits;
use wasmi::{ExternType, FuncType, ValType};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};

/// Most imports a module may declare (the ABI has fewer functions; a module
/// importing one twice is still bounded).
pub const IMPORTS_MAX: usize = 64;

/// Why a module was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    /// The module is bigger than the channel allows.
    #[error("module of {bytes} bytes > {max} bytes")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The channel's `module_bytes_max`.
        max: u32,
    },
    /// Not a valid WASM module (or uses a proposal that is not allowed).
    #[error("invalid wasm: {0}")]
    Invalid(String),
    /// Uses floating point, which is not deterministic across machines.
    #[error("floating point is not allowed: {0}")]
    Floats(String),
    /// Has a start function (code running at instantiation).
    #[error("a start function is not allowed")]
    StartFunction,
    /// Imports something the ABI does not offer.
    #[error("unknown import {module}.{name}")]
    UnknownImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// Imports an ABI function with the wrong signature.
    #[error("import {IMPORT_MODULE}.{name} has signature {got}, the ABI says {expected}")]
    ImportSignature {
        /// Import name.
        name: &'static str,
        /// The ABI's signature.
        expected: String,
        /// The module's.
        got: String,
    },
    /// Too many imports.
    #[error("{0} imports > {IMPORTS_MAX}")]
    TooManyImports(usize),
    /// A required export is missing or has the wrong type.
    #[error("missing export {name:?} ({expected})")]
    MissingExport {
        /// Export name.
        name: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// The initial memory is above the channel's page limit.
    #[error("initial memory of {pages} pages > {max} pages")]
    MemoryTooLarge {
        /// Declared initial pages.
        pages: u64,
        /// The channel's `memory_pages_max`.
        max: u32,
    },
    /// A table is above [`TABLE_ELEMENTS_MAX`].
    #[error("table of {elements} elements > {TABLE_ELEMENTS_MAX}")]
    TableTooLarge {
        /// Declared initial elements.
        elements: u64,
    },
    /// wasmi refused to compile the module.
    #[error("compile: {0}")]
    Compile(String),
}

/// A module that passed validation, compiled for the host's engine.
pub struct CompiledModule {
    /// blake3 of the code.
    pub code_hash: Hash,
    /// The compiled module.
    pub module: wasmi::Module,
    /// Its imports, in declaration order, as ABI functions.
    pub imports: Vec<HostImport>,
}

impl std::fmt::Debug for CompiledModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModule")
            .field("code_hash", &self.code_hash)
            .field("imports", &self.imports)
            .finish()
    }
}

/// The WASM proposals a contract may use: the MVP without floats, plus
/// mutable globals, sign extension, multi-value and bulk memory (whose
/// copies and fills wasmi meters per byte).
pub fn allowed_features() -> WasmFeatures {
    WasmFeatures::GC_TYPES
        | WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
}

/// Full deploy-time validation under the channel's `limits`, then
/// compilation with `engine`.
pub fn validate_module(
    engine: &wasmi::Engine,
    code: &[u8],
    limits: &WasmLimits,
) -> Result<CompiledModule, ValidateError> {
    if code.len() > limits.module_bytes_max as usize {
        return Err(ValidateError::TooLarge {
            bytes: code.len(),
            max: limits.module_bytes_max,
        });
    }
    let compiled = compile(engine, code)?;
    for export in compiled.module.exports() {
        if let ExternType::Memory(m) = export.ty()
            && m.minimum() > u64::from(limits.memory_pages_max)
        {
            return Err(ValidateError::MemoryTooLarge {
                pages: m.minimum(),
                max: limits.memory_pages_max,
            });
        }
    }
    Ok(compiled)
}

/// Validation that does not depend on the channel's limits, and
/// compilation. Used at deploy and when a stored module is loaded again.
pub fn compile(engine: &wasmi::Engine, code: &[u8]) -> Result<CompiledModule, ValidateError> {
    check_features(code)?;
    check_no_start(code)?;
    let module =
        wasmi::Module::new(engine, code).map_err(|e| ValidateError::Compile(e.to_string()))?;
    let imports = check_imports(&module)?;
    check_exports(&module)?;
    Ok(CompiledModule {
        code_hash: Hash::of(code),
        module,
        imports,
    })
}

fn check_features(code: &[u8]) -> Result<(), ValidateError> {
    let Err(strict) = Validator::new_with_features(allowed_features()).validate_all(code) else {
        return Ok(());
    };
    // Tell floats apart from other invalidity: a module that validates once
    // floats are allowed was refused for its floats.
    let with_floats =
        allowed_features() | WasmFeatures::FLOATS | WasmFeatures::SATURATING_FLOAT_TO_INT;
    match Validator::new_with_features(with_floats).validate_all(code) {
        Ok(_) => Err(ValidateError::Floats(strict.to_string())),
        Err(_) => Err(ValidateError::Invalid(strict.to_string())),
    }
}

fn check_no_start(code: &[u8]) -> Result<(), ValidateError> {
    for payload in Parser::new(0).parse_all(code) {
        match payload.map_err(|e| ValidateError::Invalid(e.to_string()))? {
            Payload::StartSection { .. } => return Err(ValidateError::StartFunction),
            Payload::TableSection(tables) => {
                for table in tables {
                    let table = table.map_err(|e| ValidateError::Invalid(e.to_string()))?;
                    if table.ty.initial > TABLE_ELEMENTS_MAX as u64 {
                        return Err(ValidateError::TableTooLarge {
                            elements: table.ty.initial,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn abi_type(t: &ValType) -> Option<AbiType> {
    match t {
        ValType::I32 => Some(AbiType::I32),
        ValType::I64 => Some(AbiType::I64),
        _ => None,
    }
}

fn matches(ty: &FuncType, params: &[AbiType], results: &[AbiType]) -> bool {
    let same = |got: &[ValType], want: &[AbiType]| {
        got.len() == want.len() && got.iter().zip(want).all(|(g, w)| abi_type(g) == Some(*w))
    };
    same(ty.params(), params) && same(ty.results(), results)
}

fn render(params: &[AbiType], results: &[AbiType]) -> String {
    format!("{params:?} -> {results:?}")
}

fn check_imports(module: &wasmi::Module) -> Result<Vec<HostImport>, ValidateError> {
    let count = module.imports().len();
    if count > IMPORTS_MAX {
        return Err(ValidateError::TooManyImports(count));
    }
    let mut out = Vec::with_capacity(count);
    for import in module.imports() {
        let unknown = || ValidateError::UnknownImport {
            module: import.module().to_string(),
            name: import.name().to_string(),
        };
        if import.module() != IMPORT_MODULE {
            return Err(unknown());
        }
        let abi = HostImport::from_name(import.name()).ok_or_else(unknown)?;
        let (params, results) = abi.signature();
        let ExternType::Func(ty) = import.ty() else {
            return Err(unknown());
        };
        if !matches(ty, params, results) {
            return Err(ValidateError::ImportSignature {
                name: abi.name(),
                expected: render(params, results),
                got: format!("{:?} -> {:?}", ty.params(), ty.results()),
            });
        }
        out.push(abi);
    }
    assert_eq!(out.len(), count);
    Ok(out)
}

fn check_exports(module: &wasmi::Module) -> Result<(), ValidateError> {
    match module.get_export(EXPORT_MEMORY) {
        Some(ExternType::Memory(_)) => {}
        _ => {
            return Err(ValidateError::MissingExport {
                name: EXPORT_MEMORY,
                expected: "a memory",
            });
        }
    }
    let funcs: [(&'static str, &'static str, &[AbiType], &[AbiType]); 2] = [
        (
            EXPORT_ALLOC,
            "func (i32) -> i32",
            &[AbiType::I32],
            &[AbiType::I32],
        ),
        (
            EXPORT_CALL,
            "func (i32, i32, i32, i32) -> i32",
            &[AbiType::I32; 4],
            &[AbiType::I32],
        ),
    ];
    for (name, expected, params, results) in funcs {
        match module.get_export(name) {
            Some(ExternType::Func(ty)) if matches(&ty, params, results) => {}
            _ => return Err(ValidateError::MissingExport { name, expected }),
        }
    }
    Ok(())
}
