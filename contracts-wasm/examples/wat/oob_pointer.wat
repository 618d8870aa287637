;; Passes host calls pointers outside its memory; method "put" writes a key
;; at 0xfffffff0, "get" asks for a value to be written past the end,
;; "emit" wraps around the 32-bit address space.
(module
  (import "productivist" "state_put" (func $put (param i32 i32 i32 i32)))
  (import "productivist" "state_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "productivist" "emit" (func $emit (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (data (i32.const 0) "k")
  (func (export "call") (param $m i32) (param $ml i32) (param i32 i32) (result i32)
    (if (i32.eq (i32.load8_u (local.get $m)) (i32.const 0x70)) ;; 'p'
      (then (call $put (i32.const 0xfffffff0) (i32.const 100) (i32.const 0) (i32.const 1))))
    (if (i32.eq (i32.load8_u (local.get $m)) (i32.const 0x67)) ;; 'g'
      (then
        (call $put (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))
        (drop (call $get (i32.const 0) (i32.const 1) (i32.const 65535) (i32.const 16)))))
    (if (i32.eq (i32.load8_u (local.get $m)) (i32.const 0x65)) ;; 'e'
      (then (call $emit (i32.const 0) (i32.const 1) (i32.const 0xffffffff) (i32.const 2))))
    (i32.const 0)))
