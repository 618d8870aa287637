;; Asks to return 2 GiB: LimitExceeded before any byte is copied.
(module
  (import "productivist" "return_data" (func $return_data (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "call") (param i32 i32 i32 i32) (result i32)
    (call $return_data (i32.const 0) (i32.const 0x7fffffff))
    (i32.const 0)))
