;; Returns a non-zero status without aborting: a Trap.
(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "call") (param i32 i32 i32 i32) (result i32) (i32.const 7)))
