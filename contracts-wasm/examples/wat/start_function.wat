;; Has a start function (code at instantiation): refused at deploy.
(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (func $init)
  (start $init)
  (func (export "call") (param i32 i32 i32 i32) (result i32) (i32.const 0)))
