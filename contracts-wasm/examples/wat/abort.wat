;; Refuses with a message.
(module
  (import "productivist" "abort" (func $abort (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (data (i32.const 0) "no way: the batch is closed")
  (func (export "call") (param i32 i32 i32 i32) (result i32)
    (call $abort (i32.const 0) (i32.const 27))
    (i32.const 0)))
