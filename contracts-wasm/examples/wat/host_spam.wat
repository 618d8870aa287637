;; Calls the host in a loop: "height" forever (host calls cost fuel: must
;; end with OutOfFuel), "emit" forever (must end at the event limit).
(module
  (import "productivist" "block_height" (func $height (result i64)))
  (import "productivist" "emit" (func $emit (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (data (i32.const 0) "spam")
  (func (export "call") (param $m i32) (param i32 i32 i32) (result i32)
    (if (i32.eq (i32.load8_u (local.get $m)) (i32.const 0x68)) ;; 'h'
      (then (loop $l (drop (call $height)) (br $l))))
    (loop $e
      (call $emit (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 4))
      (br $e))
    (i32.const 0)))
