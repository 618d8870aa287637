;; Writes a key, then traps: the write must be discarded.
(module
  (import "productivist" "state_put" (func $put (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (data (i32.const 0) "written")
  (func (export "call") (param i32 i32 i32 i32) (result i32)
    (call $put (i32.const 0) (i32.const 7) (i32.const 0) (i32.const 7))
    unreachable))
