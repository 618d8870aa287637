;; Uses f64 arithmetic: refused at deploy.
(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "call") (param i32 i32 i32 i32) (result i32)
    (i32.trunc_f64_s (f64.add (f64.const 0.1) (f64.const 0.2)))))
