/*
 * batch_tracking.c - material-batch tracking, the contract an industrial
 * deploys on its private channel.
 *
 * A supplier registers a batch of material (spec, quantity, unit price);
 * the industrial consumes from it for a production run and pays the
 * supplier in the channel's service token, through a nested call to the
 * token contract named at `init` (the native `token` contract:
 * token.transfer {to: String, amount: u64, memo: String}, paid from the
 * signer's account). If the payment fails, the whole consumption fails.
 *
 * Methods (borsh arguments; errors are refusals unless noted):
 *   init        {token: String}                                  industrial or admin, once
 *   register    {batch: String, spec: String, quantity: u64, unit_price: u64}
 *                                              (quantity and unit price below 2^32)
 *                                                                producer or industrial
 *   consume     {batch: String, quantity: u64, production: String} -> u64 remaining
 *                                                                industrial
 *   get         {batch: String}        -> Batch
 *   consumption {batch: String, seq: u32} -> Consumption
 *
 * State:
 *   "cfg/token"           -> the token contract's name (raw bytes)
 *   "b/" batch            -> Batch {supplier: String, spec: String, quantity: u64,
 *                                   remaining: u64, unit_price: u64,
 *                                   registered_height: u64, consumptions: u32}
 *   "u/" batch "/" seq    -> Consumption {consumer: String, quantity: u64,
 *                           production: String, paid: u64, height: u64}
 *                           (seq: u32 big endian, so a range lists them in order)
 * Events: "batch_registered" {batch, supplier, quantity},
 *         "batch_consumed" {batch, consumer, quantity, paid, remaining}.
 */
#include "productivist.h"

#define ID_BYTES_MAX 64
#define TEXT_BYTES_MAX 256
#define ACCOUNT_BYTES_MAX 160
#define NAME_BYTES_MAX 64
#define AMOUNT_MAX 0xffffffffull

static const char TOKEN_KEY[] = "cfg/token";

typedef struct {
    pv_bytes supplier;
    pv_bytes spec;
    uint64_t quantity;
    uint64_t remaining;
    uint64_t unit_price;
    uint64_t registered_height;
    uint32_t consumptions;
} batch;

/* ---- helpers ---------------------------------------------------------------- */

static void bad_args(void) { PV_FAIL(PV_FAIL_BAD_ARGUMENTS, "bad arguments"); }

static void args_done(pv_reader *r) {
    if (!pv_reader_done(r)) bad_args();
}

static pv_bytes read_text(pv_reader *r, uint32_t min, uint32_t max, const char *what) {
    pv_bytes b = pv_read_bytes(r);
    if (!r->ok) bad_args();
    if (b.len < min || b.len > max) PV_FAIL(PV_FAIL_BAD_ARGUMENTS, what);
    return b;
}

static pv_bytes caller_account(uint8_t *buf) {
    int32_t n = pv_caller_account(buf, ACCOUNT_BYTES_MAX);
    if (n < 0 || n > ACCOUNT_BYTES_MAX) PV_REFUSE("caller account too long");
    pv_bytes b = {buf, (uint32_t)n};
    return b;
}

/* "b/" + id */
static pv_bytes batch_key(pv_bytes id, uint8_t *buf) {
    buf[0] = 'b';
    buf[1] = '/';
    memcpy(buf + 2, id.ptr, id.len);
    pv_bytes k = {buf, id.len + 2};
    return k;
}

/* "u/" + id + "/" + seq (u32 big endian) */
static pv_bytes consumption_key(pv_bytes id, uint32_t seq, uint8_t *buf) {
    buf[0] = 'u';
    buf[1] = '/';
    memcpy(buf + 2, id.ptr, id.len);
    uint8_t *p = buf + 2 + id.len;
    p[0] = '/';
    p[1] = (uint8_t)(seq >> 24);
    p[2] = (uint8_t)(seq >> 16);
    p[3] = (uint8_t)(seq >> 8);
    p[4] = (uint8_t)seq;
    pv_bytes k = {buf, id.len + 7};
    return k;
}

static int load_batch(pv_bytes key, batch *b, pv_bytes *raw) {
    uint8_t *bytes;
    int32_t n = pv_get(key, &bytes);
    if (n == PV_ABSENT) return 0;
    pv_reader r = pv_reader_new(bytes, (uint32_t)n);
    b->supplier = pv_read_bytes(&r);
    b->spec = pv_read_bytes(&r);
    b->quantity = pv_read_u64(&r);
    b->remaining = pv_read_u64(&r);
    b->unit_price = pv_read_u64(&r);
    b->registered_height = pv_read_u64(&r);
    b->consumptions = pv_read_u32(&r);
    if (!pv_reader_done(&r)) PV_REFUSE("corrupt batch record");
    if (raw) {
        raw->ptr = bytes;
        raw->len = (uint32_t)n;
    }
    return 1;
}

static void write_batch(pv_writer *w, const batch *b) {
    pv_write_bytes(w, b->supplier);
    pv_write_bytes(w, b->spec);
    pv_write_u64(w, b->quantity);
    pv_write_u64(w, b->remaining);
    pv_write_u64(w, b->unit_price);
    pv_write_u64(w, b->registered_height);
    pv_write_u32(w, b->consumptions);
}

/* ---- methods ---------------------------------------------------------------- */

static void init(pv_reader *r) {
    pv_bytes token = read_text(r, 1, NAME_BYTES_MAX, "token contract name must be 1 to 64 bytes");
    args_done(r);
    if (!pv_caller_has_role(PV_ROLE_INDUSTRIAL) && !pv_caller_has_role(PV_ROLE_ADMIN))
        PV_FAIL(PV_FAIL_NOT_AUTHORIZED, "init needs the industrial or admin role");
    uint8_t probe[1];
    if (pv_state_get(TOKEN_KEY, sizeof TOKEN_KEY - 1, probe, 0) != PV_ABSENT)
        PV_REFUSE("already initialized");
    pv_state_put(TOKEN_KEY, sizeof TOKEN_KEY - 1, token.ptr, (int32_t)token.len);
}

static void register_batch(pv_reader *r) {
    pv_bytes id = read_text(r, 1, ID_BYTES_MAX, "batch id must be 1 to 64 bytes");
    pv_bytes spec = read_text(r, 1, TEXT_BYTES_MAX, "spec must be 1 to 256 bytes");
    uint64_t quantity = pv_read_u64(r);
    uint64_t unit_price = pv_read_u64(r);
    args_done(r);
    if (quantity == 0 || quantity > AMOUNT_MAX)
        PV_FAIL(PV_FAIL_BAD_ARGUMENTS, "quantity must be 1 to 2^32 - 1");
    if (unit_price > AMOUNT_MAX) PV_FAIL(PV_FAIL_BAD_ARGUMENTS, "unit price must be below 2^32");
    if (!pv_caller_has_role(PV_ROLE_PRODUCER) && !pv_caller_has_role(PV_ROLE_INDUSTRIAL))
        PV_FAIL(PV_FAIL_NOT_AUTHORIZED, "register needs the producer or industrial role");

    uint8_t kbuf[2 + ID_BYTES_MAX];
    pv_bytes key = batch_key(id, kbuf);
    uint8_t probe[1];
    if (pv_state_get(key.ptr, (int32_t)key.len, probe, 0) != PV_ABSENT)
        PV_REFUSE("batch already registered");

    uint8_t abuf[ACCOUNT_BYTES_MAX];
    batch b = {
        .supplier = caller_account(abuf),
        .spec = spec,
        .quantity = quantity,
        .remaining = quantity,
        .unit_price = unit_price,
        .registered_height = (uint64_t)pv_block_height(),
        .consumptions = 0,
    };
    uint8_t vbuf[4 + ACCOUNT_BYTES_MAX + 4 + TEXT_BYTES_MAX + 8 * 4 + 4];
    pv_writer v = pv_writer_new(vbuf, sizeof vbuf);
    write_batch(&v, &b);
    if (!v.ok) PV_REFUSE("batch record too large");
    pv_put(key, &v);

    uint8_t ebuf[4 + ID_BYTES_MAX + 4 + ACCOUNT_BYTES_MAX + 8];
    pv_writer e = pv_writer_new(ebuf, sizeof ebuf);
    pv_write_bytes(&e, id);
    pv_write_bytes(&e, b.supplier);
    pv_write_u64(&e, quantity);
    pv_emit_writer("batch_registered", &e);
}

/* Pays `amount` to `to` through token.transfer; refuses with the token's
 * message if the payment fails. */
static void pay(pv_bytes to, uint64_t amount, pv_bytes id) {
    uint8_t token[NAME_BYTES_MAX];
    int32_t token_len = pv_state_get(TOKEN_KEY, sizeof TOKEN_KEY - 1, token, sizeof token);
    if (token_len == PV_ABSENT) PV_REFUSE("not initialized: no token contract");
    if (token_len > (int32_t)sizeof token) PV_REFUSE("corrupt token contract name");

    uint8_t abuf[4 + ACCOUNT_BYTES_MAX + 8 + 4 + 6 + ID_BYTES_MAX];
    pv_writer a = pv_writer_new(abuf, sizeof abuf);
    pv_write_bytes(&a, to);
    pv_write_u64(&a, amount);
    pv_write_u32(&a, 6 + id.len); /* memo: "batch " + id */
    pv_write_raw(&a, "batch ", 6);
    pv_write_raw(&a, id.ptr, id.len);
    if (!a.ok) PV_REFUSE("payment arguments too large");

    int32_t status = pv_call(token, token_len, "transfer", 8, a.ptr, (int32_t)a.len, 0, 0);
    if (status < 0) {
        static const char prefix[] = "payment failed: ";
        uint8_t msg[sizeof prefix - 1 + 512];
        memcpy(msg, prefix, sizeof prefix - 1);
        int32_t n = pv_result_read(msg + sizeof prefix - 1, 512);
        if (n > 512) n = 512;
        pv_abort(msg, (int32_t)(sizeof prefix - 1) + n);
    }
}

static void consume(pv_reader *r) {
    pv_bytes id = read_text(r, 1, ID_BYTES_MAX, "batch id must be 1 to 64 bytes");
    uint64_t quantity = pv_read_u64(r);
    pv_bytes production = read_text(r, 1, TEXT_BYTES_MAX, "production must be 1 to 256 bytes");
    args_done(r);
    if (quantity == 0) PV_FAIL(PV_FAIL_BAD_ARGUMENTS, "quantity must be at least 1");
    if (!pv_caller_has_role(PV_ROLE_INDUSTRIAL))
        PV_FAIL(PV_FAIL_NOT_AUTHORIZED, "consume needs the industrial role");

    uint8_t kbuf[2 + ID_BYTES_MAX];
    pv_bytes key = batch_key(id, kbuf);
    batch b;
    if (!load_batch(key, &b, 0)) PV_REFUSE("no such batch");
    if (quantity > b.remaining) PV_REFUSE("not enough material left in the batch");
    /* Both factors are below 2^32 (checked at register): no overflow, and no
     * 128-bit arithmetic (there is no compiler runtime to provide it). */
    uint64_t paid = quantity * b.unit_price;

    uint8_t abuf[ACCOUNT_BYTES_MAX];
    pv_bytes consumer = caller_account(abuf);
    int self = consumer.len == b.supplier.len && memcmp(consumer.ptr, b.supplier.ptr, consumer.len) == 0;
    if (paid > 0 && !self) pay(b.supplier, paid, id);

    uint32_t seq = b.consumptions;
    b.remaining -= quantity;
    b.consumptions += 1;
    uint8_t vbuf[4 + ACCOUNT_BYTES_MAX + 4 + TEXT_BYTES_MAX + 8 * 4 + 4];
    pv_writer v = pv_writer_new(vbuf, sizeof vbuf);
    write_batch(&v, &b);
    if (!v.ok) PV_REFUSE("batch record too large");
    pv_put(key, &v);

    uint8_t ckbuf[2 + ID_BYTES_MAX + 5];
    pv_bytes ckey = consumption_key(id, seq, ckbuf);
    uint8_t cbuf[4 + ACCOUNT_BYTES_MAX + 8 + 4 + TEXT_BYTES_MAX + 8 + 8];
    pv_writer c = pv_writer_new(cbuf, sizeof cbuf);
    pv_write_bytes(&c, consumer);
    pv_write_u64(&c, quantity);
    pv_write_bytes(&c, production);
    pv_write_u64(&c, paid);
    pv_write_u64(&c, (uint64_t)pv_block_height());
    if (!c.ok) PV_REFUSE("consumption record too large");
    pv_put(ckey, &c);

    uint8_t ebuf[4 + ID_BYTES_MAX + 4 + ACCOUNT_BYTES_MAX + 8 * 3];
    pv_writer e = pv_writer_new(ebuf, sizeof ebuf);
    pv_write_bytes(&e, id);
    pv_write_bytes(&e, consumer);
    pv_write_u64(&e, quantity);
    pv_write_u64(&e, paid);
    pv_write_u64(&e, b.remaining);
    pv_emit_writer("batch_consumed", &e);

    uint8_t obuf[8];
    pv_writer o = pv_writer_new(obuf, sizeof obuf);
    pv_write_u64(&o, b.remaining);
    pv_return_writer(&o);
}

static void get(pv_reader *r) {
    pv_bytes id = read_text(r, 1, ID_BYTES_MAX, "batch id must be 1 to 64 bytes");
    args_done(r);
    uint8_t kbuf[2 + ID_BYTES_MAX];
    batch b;
    pv_bytes raw;
    if (!load_batch(batch_key(id, kbuf), &b, &raw)) PV_REFUSE("no such batch");
    pv_return_data(raw.ptr, (int32_t)raw.len);
}

static void consumption(pv_reader *r) {
    pv_bytes id = read_text(r, 1, ID_BYTES_MAX, "batch id must be 1 to 64 bytes");
    uint32_t seq = pv_read_u32(r);
    args_done(r);
    uint8_t kbuf[2 + ID_BYTES_MAX + 5];
    uint8_t *bytes;
    int32_t n = pv_get(consumption_key(id, seq, kbuf), &bytes);
    if (n == PV_ABSENT) PV_REFUSE("no such consumption");
    pv_return_data(bytes, n);
}

PV_EXPORT("call")
int32_t call(const uint8_t *method_ptr, int32_t method_len, const uint8_t *args, int32_t args_len) {
    pv_bytes method = {method_ptr, (uint32_t)method_len};
    pv_reader r = pv_reader_new(args, (uint32_t)args_len);
    if (pv_bytes_eq(method, "consume"))
        consume(&r);
    else if (pv_bytes_eq(method, "register"))
        register_batch(&r);
    else if (pv_bytes_eq(method, "get"))
        get(&r);
    else if (pv_bytes_eq(method, "consumption"))
        consumption(&r);
    else if (pv_bytes_eq(method, "init"))
        init(&r);
    else
        PV_FAIL(PV_FAIL_BAD_ARGUMENTS, "unknown method");
    return PV_OK;
}
