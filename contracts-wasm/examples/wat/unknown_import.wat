;; Imports a function the ABI does not have: refused at deploy.
(module
  (import "productivist" "wall_clock" (func $clock (result i64)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "call") (param i32 i32 i32 i32) (result i32)
    (i32.wrap_i64 (call $clock))))
