;; Grows memory one page at a time forever: must end with LimitExceeded at
;; the channel's memory_pages_max, not take the node's memory.
(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "call") (param i32 i32 i32 i32) (result i32)
    (loop $grow
      (drop (memory.grow (i32.const 1)))
      (br $grow))
    (i32.const 0)))
