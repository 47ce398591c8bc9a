;; Frame-scan kernels with 128-bit WebAssembly SIMD (the `simd` scanner,
;; src/services/frame-scan/simd-wasm.ts). Compiled by scripts/build-wasm.mjs
;; (wabt, simd feature) to dist/src/services/frame-scan/scan.wasm.
;;
;; Memory layout is owned by the JS side: it copies a segment of input to
;; [ptr, ptr+len) and, for find_newlines, reserves 4*len bytes at `out`.
;; All offsets returned are relative to `ptr`. Pointers and lengths are
;; unsigned i32; the JS side keeps every region inside the exported memory.
(module
  ;; 5 pages = 320 KiB: a 64 KiB input segment + 256 KiB of i32 newline
  ;; offsets (one per input byte, worst case). Fixed: the JS side feeds
  ;; longer inputs segment by segment, so memory never grows.
  (memory (export "memory") 5 5)

  ;; First `\n` in [ptr, ptr+len): its offset from ptr, or -1.
  (func (export "index_of_newline") (param $ptr i32) (param $len i32) (result i32)
    (local $i i32) (local $end i32) (local $m i32) (local $nl v128)
    (local.set $nl (i8x16.splat (i32.const 0x0a)))
    (local.set $i (local.get $ptr))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    ;; 16 bytes per step while a whole vector fits.
    (block $tail
      (loop $vec
        (br_if $tail (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $end)))
        (local.set $m (i8x16.bitmask (i8x16.eq (v128.load (local.get $i)) (local.get $nl))))
        (if (local.get $m)
          (then (return (i32.sub (i32.add (local.get $i) (i32.ctz (local.get $m))) (local.get $ptr)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $vec)))
    ;; Fewer than 16 bytes left: one at a time.
    (block $done
      (loop $byte
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (if (i32.eq (i32.load8_u (local.get $i)) (i32.const 0x0a))
          (then (return (i32.sub (local.get $i) (local.get $ptr)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $byte)))
    (i32.const -1))

  ;; Every `\n` in [ptr, ptr+len): writes their offsets from ptr, ascending,
  ;; as i32 at out, out+4, ... and returns how many. `out` must have room
  ;; for 4*len bytes.
  (func (export "find_newlines") (param $ptr i32) (param $len i32) (param $out i32) (result i32)
    (local $i i32) (local $end i32) (local $m i32) (local $n i32) (local $nl v128)
    (local.set $nl (i8x16.splat (i32.const 0x0a)))
    (local.set $i (local.get $ptr))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $tail
      (loop $vec
        (br_if $tail (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $end)))
        (local.set $m (i8x16.bitmask (i8x16.eq (v128.load (local.get $i)) (local.get $nl))))
        ;; One store per set bit, lowest first.
        (block $bits_done
          (loop $bits
            (br_if $bits_done (i32.eqz (local.get $m)))
            (i32.store
              (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2)))
              (i32.sub (i32.add (local.get $i) (i32.ctz (local.get $m))) (local.get $ptr)))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (local.set $m (i32.and (local.get $m) (i32.sub (local.get $m) (i32.const 1))))
            (br $bits)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $vec)))
    (block $done
      (loop $byte
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (if (i32.eq (i32.load8_u (local.get $i)) (i32.const 0x0a))
          (then
            (i32.store
              (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2)))
              (i32.sub (local.get $i) (local.get $ptr)))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $byte)))
    (local.get $n))

  ;; UTF-8 validation of [ptr, ptr+len), per the Unicode Standard, ch. 3,
  ;; table 3-7 (well-formed byte sequences): no overlongs (C0, C1, E0 80..9F,
  ;; F0 80..8F), no surrogates (ED A0..BF), nothing above U+10FFFF (F4 90..,
  ;; F5..FF), no stray continuation bytes.
  ;;
  ;; Returns -1 when an ill-formed sequence is found. Otherwise the length of
  ;; the longest prefix ending at a character boundary: `len` when the whole
  ;; range is well-formed, less when it ends inside a character whose bytes
  ;; so far are a valid start (the JS side carries those bytes into the next
  ;; segment, or, at the end of the input, calls it truncated).
  ;;
  ;; ASCII runs go 64 then 16 bytes per step (no byte has its high bit set);
  ;; a non-ASCII sequence is checked by a scalar state machine, then the
  ;; vector loop resumes.
  (func (export "utf8_prefix") (param $ptr i32) (param $len i32) (result i32)
    (local $i i32) (local $end i32) (local $m i32) (local $b i32) (local $c i32)
    (local $n i32) (local $k i32) (local $lo i32) (local $hi i32)
    (local.set $i (local.get $ptr))
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (loop $main
      (block $scalar
        ;; 64 bytes per step: OR four vectors, one bitmask.
        (block $no64
          (loop $ascii64
            (br_if $no64 (i32.gt_u (i32.add (local.get $i) (i32.const 64)) (local.get $end)))
            (br_if $no64
              (i8x16.bitmask
                (v128.or
                  (v128.or (v128.load (local.get $i)) (v128.load offset=16 (local.get $i)))
                  (v128.or (v128.load offset=32 (local.get $i)) (v128.load offset=48 (local.get $i))))))
            (local.set $i (i32.add (local.get $i) (i32.const 64)))
            (br $ascii64)))
        ;; 16 bytes per step; on a high bit, jump to it.
        (loop $ascii16
          (br_if $scalar (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $end)))
          (local.set $m (i8x16.bitmask (v128.load (local.get $i))))
          (if (local.get $m)
            (then
              (local.set $i (i32.add (local.get $i) (i32.ctz (local.get $m))))
              (br $scalar)))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br $ascii16)))
      ;; Scalar: at a non-ASCII byte, or in the last < 16 bytes.
      (if (i32.ge_u (local.get $i) (local.get $end))
        (then (return (local.get $len))))
      (local.set $b (i32.load8_u (local.get $i)))
      (if (i32.lt_u (local.get $b) (i32.const 0x80))
        (then
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $main)))
      ;; Lead byte: n continuation bytes; the first one in [lo, hi].
      (if (i32.lt_u (local.get $b) (i32.const 0xc2))
        (then (return (i32.const -1)))) ;; continuation byte, or overlong C0/C1
      (local.set $lo (i32.const 0x80))
      (local.set $hi (i32.const 0xbf))
      (if (i32.lt_u (local.get $b) (i32.const 0xe0))
        (then (local.set $n (i32.const 1)))
        (else
          (if (i32.lt_u (local.get $b) (i32.const 0xf0))
            (then
              (local.set $n (i32.const 2))
              (if (i32.eq (local.get $b) (i32.const 0xe0)) (then (local.set $lo (i32.const 0xa0)))) ;; overlong
              (if (i32.eq (local.get $b) (i32.const 0xed)) (then (local.set $hi (i32.const 0x9f))))) ;; surrogates
            (else
              (if (i32.ge_u (local.get $b) (i32.const 0xf5))
                (then (return (i32.const -1)))) ;; above U+10FFFF, or not a lead byte
              (local.set $n (i32.const 3))
              (if (i32.eq (local.get $b) (i32.const 0xf0)) (then (local.set $lo (i32.const 0x90)))) ;; overlong
              (if (i32.eq (local.get $b) (i32.const 0xf4)) (then (local.set $hi (i32.const 0x8f)))))))) ;; > U+10FFFF
      ;; First continuation byte, with the lead byte's range.
      (if (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $end))
        (then (return (i32.sub (local.get $i) (local.get $ptr))))) ;; ends after a valid lead byte
      (local.set $c (i32.load8_u offset=1 (local.get $i)))
      (if (i32.or (i32.lt_u (local.get $c) (local.get $lo)) (i32.gt_u (local.get $c) (local.get $hi)))
        (then (return (i32.const -1))))
      ;; The others: 80..BF.
      (local.set $k (i32.const 2))
      (block $conts_done
        (loop $conts
          (br_if $conts_done (i32.gt_u (local.get $k) (local.get $n)))
          (if (i32.ge_u (i32.add (local.get $i) (local.get $k)) (local.get $end))
            (then (return (i32.sub (local.get $i) (local.get $ptr))))) ;; ends inside a valid prefix
          (local.set $c (i32.load8_u (i32.add (local.get $i) (local.get $k))))
          (if (i32.ne (i32.and (local.get $c) (i32.const 0xc0)) (i32.const 0x80))
            (then (return (i32.const -1))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $conts)))
      (local.set $i (i32.add (local.get $i) (i32.add (local.get $n) (i32.const 1))))
      (br $main))
    (unreachable))
)
