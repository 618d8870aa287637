/*
 * productivist.h - the Productivist contract ABI for C (wasm32, no libc).
 *
 * See docs/CONTRACT_ABI.md. A contract is one C file that includes this
 * header, defines
 *
 *     PV_EXPORT("call") int32_t call(const uint8_t *method, int32_t method_len,
 *                                    const uint8_t *args, int32_t args_len);
 *
 * and is built with sdk/build.sh. The header provides the `alloc` export (a
 * bump allocator over the linear memory; every call runs in a fresh
 * instance, so nothing is ever freed), the host imports, memcpy/memset/
 * memcmp (the compiler may emit calls to them), and small borsh readers and
 * writers for arguments, state values and outputs.
 */
#ifndef PRODUCTIVIST_H
#define PRODUCTIVIST_H

typedef unsigned char uint8_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned long long uint64_t;
typedef long long int64_t;
typedef unsigned long size_t;

#define PV_IMPORT(name) \
    __attribute__((import_module("productivist"), import_name(name)))
#define PV_EXPORT(name) __attribute__((export_name(name)))

/* ---- status and codes ---------------------------------------------------- */

#define PV_OK 0            /* `call` returns this on success */
#define PV_ABSENT (-1)     /* state_get / calling_contract: nothing there */

#define PV_FAIL_REFUSED 0
#define PV_FAIL_BAD_ARGUMENTS 1
#define PV_FAIL_NOT_AUTHORIZED 2

/* Roles, as the engine numbers them. */
#define PV_ROLE_CUSTOMER 0
#define PV_ROLE_DESIGNER 1
#define PV_ROLE_PRODUCER 2
#define PV_ROLE_INDUSTRIAL 3
#define PV_ROLE_EXPERT 4
#define PV_ROLE_ADMIN 5
#define PV_ROLE_NODE 6
#define PV_ROLE_CLIENT 7
#define PV_ROLE_ISSUER 8

/* ---- host imports (module "productivist") --------------------------------- */
/* Functions that produce bytes write at most `dst_cap` bytes at `dst` and
 * return the full length; the full bytes stay readable with pv_result_read
 * until the next producing call. */

PV_IMPORT("state_get")
int32_t pv_state_get(const void *key, int32_t key_len, void *dst, int32_t dst_cap);
PV_IMPORT("state_put")
void pv_state_put(const void *key, int32_t key_len, const void *val, int32_t val_len);
PV_IMPORT("state_delete")
void pv_state_delete(const void *key, int32_t key_len);
/* end_len < 0: to the end of the contract's key space. Output: borsh
 * Vec<(Vec<u8>, Vec<u8>)>. */
PV_IMPORT("state_range")
int32_t pv_state_range(const void *start, int32_t start_len, const void *end, int32_t end_len,
                       int32_t limit, void *dst, int32_t dst_cap);
PV_IMPORT("caller_account")
int32_t pv_caller_account(void *dst, int32_t dst_cap);
PV_IMPORT("caller_org")
int32_t pv_caller_org(void *dst, int32_t dst_cap);
PV_IMPORT("caller_has_role")
int32_t pv_caller_has_role(int32_t role);
PV_IMPORT("calling_contract")
int32_t pv_calling_contract(void *dst, int32_t dst_cap);
PV_IMPORT("block_height")
int64_t pv_block_height(void);
PV_IMPORT("block_time_ms")
int64_t pv_block_time_ms(void);
PV_IMPORT("tx_id")
void pv_tx_id(void *dst32);
PV_IMPORT("emit")
void pv_emit(const void *name, int32_t name_len, const void *data, int32_t data_len);
PV_IMPORT("return_data")
void pv_return_data(const void *data, int32_t len);
PV_IMPORT("abort")
__attribute__((noreturn)) void pv_abort(const void *msg, int32_t msg_len);
PV_IMPORT("fail")
__attribute__((noreturn)) void pv_fail(int32_t kind, const void *msg, int32_t msg_len);
/* >= 0: output length (output in dst / result); < 0: -(engine error code),
 * the message readable with pv_result_read. Out of fuel and storage
 * failures end the calling contract too. */
PV_IMPORT("call")
int32_t pv_call(const void *contract, int32_t contract_len, const void *method, int32_t method_len,
                const void *args, int32_t args_len, void *dst, int32_t dst_cap);
PV_IMPORT("result_read")
int32_t pv_result_read(void *dst, int32_t dst_cap);

/* ---- libc pieces the compiler may call ------------------------------------ */

void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    uint8_t *d = (uint8_t *)dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x < *y ? -1 : 1;
    return 0;
}

static inline uint32_t pv_strlen(const char *s) {
    uint32_t n = 0;
    while (s[n]) n++;
    return n;
}

/* ---- memory: a bump allocator (fresh instance per call) ------------------- */

extern uint8_t __heap_base;
static uint32_t pv_heap_top;

PV_EXPORT("alloc") void *alloc(int32_t len) {
    if (len < 0) return 0;
    if (pv_heap_top == 0) pv_heap_top = (uint32_t)&__heap_base;
    uint32_t start = (pv_heap_top + 7u) & ~7u;
    uint32_t end = start + (uint32_t)len;
    if (end < start) return 0;
    uint32_t have = (uint32_t)__builtin_wasm_memory_size(0) * 65536u;
    if (end > have) {
        uint32_t pages = (end - have + 65535u) / 65536u;
        /* Growing past the channel's page limit traps in the host. */
        if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
    }
    pv_heap_top = end;
    return (void *)start;
}

/* ---- errors ---------------------------------------------------------------- */

#define PV_REFUSE(msg) pv_abort((msg), (int32_t)pv_strlen(msg))
#define PV_FAIL(kind, msg) pv_fail((kind), (msg), (int32_t)pv_strlen(msg))

/* ---- borsh ----------------------------------------------------------------- */

/* A byte string inside some buffer (not NUL-terminated). */
typedef struct {
    const uint8_t *ptr;
    uint32_t len;
} pv_bytes;

static inline pv_bytes pv_cstr(const char *s) {
    pv_bytes b = {(const uint8_t *)s, pv_strlen(s)};
    return b;
}

static inline int pv_bytes_eq(pv_bytes a, const char *s) {
    uint32_t n = pv_strlen(s);
    return a.len == n && memcmp(a.ptr, s, n) == 0;
}

/* Reads borsh from a buffer. On any short read `ok` becomes 0 and every
 * later read returns zeros: check `ok` once at the end. */
typedef struct {
    const uint8_t *ptr;
    uint32_t len;
    uint32_t pos;
    int ok;
} pv_reader;

static inline pv_reader pv_reader_new(const uint8_t *ptr, uint32_t len) {
    pv_reader r = {ptr, len, 0, 1};
    return r;
}

static inline int pv_reader_take(pv_reader *r, uint32_t n, const uint8_t **out) {
    if (!r->ok || r->len - r->pos < n) {
        r->ok = 0;
        return 0;
    }
    *out = r->ptr + r->pos;
    r->pos += n;
    return 1;
}

static inline uint8_t pv_read_u8(pv_reader *r) {
    const uint8_t *p;
    return pv_reader_take(r, 1, &p) ? p[0] : 0;
}

static inline uint32_t pv_read_u32(pv_reader *r) {
    const uint8_t *p;
    if (!pv_reader_take(r, 4, &p)) return 0;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t pv_read_u64(pv_reader *r) {
    uint64_t lo = pv_read_u32(r);
    uint64_t hi = pv_read_u32(r);
    return lo | hi << 32;
}

/* A borsh String or Vec<u8>: u32 length, then the bytes. */
static inline pv_bytes pv_read_bytes(pv_reader *r) {
    pv_bytes b = {0, 0};
    uint32_t n = pv_read_u32(r);
    if (pv_reader_take(r, n, &b.ptr)) b.len = n;
    return b;
}

/* The reader consumed its whole buffer without a short read. */
static inline int pv_reader_done(const pv_reader *r) {
    return r->ok && r->pos == r->len;
}

/* Writes borsh into a fixed buffer; `ok` becomes 0 on overflow. */
typedef struct {
    uint8_t *ptr;
    uint32_t cap;
    uint32_t len;
    int ok;
} pv_writer;

static inline pv_writer pv_writer_new(uint8_t *ptr, uint32_t cap) {
    pv_writer w = {ptr, cap, 0, 1};
    return w;
}

static inline void pv_write_raw(pv_writer *w, const void *src, uint32_t n) {
    if (!w->ok || w->cap - w->len < n) {
        w->ok = 0;
        return;
    }
    memcpy(w->ptr + w->len, src, n);
    w->len += n;
}

static inline void pv_write_u8(pv_writer *w, uint8_t v) { pv_write_raw(w, &v, 1); }

static inline void pv_write_u32(pv_writer *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    pv_write_raw(w, b, 4);
}

static inline void pv_write_u64(pv_writer *w, uint64_t v) {
    pv_write_u32(w, (uint32_t)v);
    pv_write_u32(w, (uint32_t)(v >> 32));
}

static inline void pv_write_bytes(pv_writer *w, pv_bytes b) {
    pv_write_u32(w, b.len);
    pv_write_raw(w, b.ptr, b.len);
}

static inline void pv_write_str(pv_writer *w, const char *s) { pv_write_bytes(w, pv_cstr(s)); }

/* ---- conveniences ---------------------------------------------------------- */

static inline void pv_put(pv_bytes key, const pv_writer *value) {
    pv_state_put(key.ptr, (int32_t)key.len, value->ptr, (int32_t)value->len);
}

/* Reads a state value into a fresh buffer: PV_ABSENT, or its length with
 * *out pointing at it. */
static inline int32_t pv_get(pv_bytes key, uint8_t **out) {
    uint8_t small[256];
    int32_t n = pv_state_get(key.ptr, (int32_t)key.len, small, (int32_t)sizeof small);
    if (n < 0) return n;
    uint8_t *buf = (uint8_t *)alloc(n);
    if (!buf) PV_REFUSE("out of memory");
    if ((uint32_t)n <= sizeof small)
        memcpy(buf, small, (uint32_t)n);
    else
        pv_result_read(buf, n);
    *out = buf;
    return n;
}

static inline void pv_return_writer(const pv_writer *w) { pv_return_data(w->ptr, (int32_t)w->len); }

static inline void pv_emit_writer(const char *name, const pv_writer *w) {
    pv_emit(name, (int32_t)pv_strlen(name), w->ptr, (int32_t)w->len);
}

#endif /* PRODUCTIVIST_H */
