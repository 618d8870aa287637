;; Imports state_get with the wrong signature: refused at deploy.
(module
  (import "productivist" "state_get" (func $get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "call") (param i32 i32 i32 i32) (result i32)
    (call $get (i32.const 0) (i32.const 0))))
