;; Unbounded recursion: must trap on wasmi's stack limits.
(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (func $deeper (param i64) (result i64)
    (i64.add (call $deeper (i64.add (local.get 0) (i64.const 1))) (i64.const 1)))
  (func (export "call") (param i32 i32 i32 i32) (result i32)
    (drop (call $deeper (i64.const 0)))
    (i32.const 0)))
