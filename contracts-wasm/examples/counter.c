/*
 * counter.c - named counters: the WASM twin of a small native contract
 * (the native twin is in tests/wasm_common/counter_native.rs). The two must
 * give the same state, results and events for the same transactions; the
 * test wasm_equivalence.rs checks it.
 *
 * Methods (borsh arguments):
 *   incr  {key: String, by: u64}  -> u64 new value;  event "incremented" {key, value}
 *   get   {key: String}           -> u64 (0 when absent)
 *   reset {key: String}           -> ();  admin only;  event "reset" {key}
 * State: "k/" + key -> u64 (borsh, little endian).
 */
#include "productivist.h"

#define KEY_BYTES_MAX 64

static pv_bytes state_key(pv_bytes key, uint8_t *buf) {
    buf[0] = 'k';
    buf[1] = '/';
    memcpy(buf + 2, key.ptr, key.len);
    pv_bytes k = {buf, key.len + 2};
    return k;
}

static uint64_t load(pv_bytes k) {
    uint8_t v[8];
    int32_t n = pv_state_get(k.ptr, (int32_t)k.len, v, 8);
    if (n == PV_ABSENT) return 0;
    if (n != 8) PV_REFUSE("corrupt counter");
    pv_reader r = pv_reader_new(v, 8);
    return pv_read_u64(&r);
}

static pv_bytes read_key(pv_reader *r) {
    pv_bytes key = pv_read_bytes(r);
    if (!r->ok) PV_FAIL(PV_FAIL_BAD_ARGUMENTS, "bad arguments");
    if (key.len == 0 || key.len > KEY_BYTES_MAX)
        PV_FAIL(PV_FAIL_BAD_ARGUMENTS, "key must be 1 to 64 bytes");
    return key;
}

static void done(pv_reader *r) {
    if (!pv_reader_done(r)) PV_FAIL(PV_FAIL_BAD_ARGUMENTS, "bad arguments");
}

static void incr(pv_reader *r) {
    pv_bytes key = read_key(r);
    uint64_t by = pv_read_u64(r);
    done(r);
    if (by == 0) PV_FAIL(PV_FAIL_BAD_ARGUMENTS, "by must be at least 1");
    uint8_t kbuf[2 + KEY_BYTES_MAX];
    pv_bytes k = state_key(key, kbuf);
    uint64_t value = load(k);
    uint64_t next;
    if (__builtin_add_overflow(value, by, &next)) PV_REFUSE("counter would overflow");

    uint8_t vbuf[8];
    pv_writer v = pv_writer_new(vbuf, sizeof vbuf);
    pv_write_u64(&v, next);
    pv_put(k, &v);

    uint8_t ebuf[4 + KEY_BYTES_MAX + 8];
    pv_writer e = pv_writer_new(ebuf, sizeof ebuf);
    pv_write_bytes(&e, key);
    pv_write_u64(&e, next);
    pv_emit_writer("incremented", &e);
    pv_return_writer(&v);
}

static void get(pv_reader *r) {
    pv_bytes key = read_key(r);
    done(r);
    uint8_t kbuf[2 + KEY_BYTES_MAX];
    uint8_t vbuf[8];
    pv_writer v = pv_writer_new(vbuf, sizeof vbuf);
    pv_write_u64(&v, load(state_key(key, kbuf)));
    pv_return_writer(&v);
}

static void reset(pv_reader *r) {
    pv_bytes key = read_key(r);
    done(r);
    if (!pv_caller_has_role(PV_ROLE_ADMIN))
        PV_FAIL(PV_FAIL_NOT_AUTHORIZED, "reset needs the admin role");
    uint8_t kbuf[2 + KEY_BYTES_MAX];
    pv_bytes k = state_key(key, kbuf);
    pv_state_delete(k.ptr, (int32_t)k.len);
    uint8_t ebuf[4 + KEY_BYTES_MAX];
    pv_writer e = pv_writer_new(ebuf, sizeof ebuf);
    pv_write_bytes(&e, key);
    pv_emit_writer("reset", &e);
}

PV_EXPORT("call")
int32_t call(const uint8_t *method_ptr, int32_t method_len, const uint8_t *args, int32_t args_len) {
    pv_bytes method = {method_ptr, (uint32_t)method_len};
    pv_reader r = pv_reader_new(args, (uint32_t)args_len);
    if (pv_bytes_eq(method, "incr"))
        incr(&r);
    else if (pv_bytes_eq(method, "get"))
        get(&r);
    else if (pv_bytes_eq(method, "reset"))
        reset(&r);
    else
        PV_FAIL(PV_FAIL_BAD_ARGUMENTS, "unknown method");
    return PV_OK;
}
