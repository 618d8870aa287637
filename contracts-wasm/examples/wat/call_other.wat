;; Calls the contract whose name is the argument bytes, method "go", with
;; the same arguments; refuses with the callee's message if it fails,
;; returns the callee's output otherwise. Called with its own name, it
;; recurses through the engine until the call depth limit.
(module
  (import "productivist" "call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "productivist" "result_read" (func $read (param i32 i32) (result i32)))
  (import "productivist" "abort" (func $abort (param i32 i32)))
  (import "productivist" "return_data" (func $return_data (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (data (i32.const 0) "go")
  (func (export "call") (param i32 i32) (param $a i32) (param $al i32) (result i32)
    (local $status i32)
    (local.set $status
      (call $call (local.get $a) (local.get $al) (i32.const 0) (i32.const 2)
                   (local.get $a) (local.get $al) (i32.const 8192) (i32.const 1024)))
    (if (i32.lt_s (local.get $status) (i32.const 0))
      (then
        (call $abort (i32.const 8192) (call $read (i32.const 8192) (i32.const 1024)))))
    (call $return_data (i32.const 8192) (local.get $status))
    (i32.const 0)))
