/*
 * blake2b.h - BLAKE2b (RFC 7693), unkeyed, for content keys (the feature
 * cache). Portable C on 64-bit words, ~5x the speed of a portable SHA-256.
 *
 *     rt_blake2b h;
 *     rt_blake2b_init(&h, 32);             // digest bytes, 1..64
 *     rt_blake2b_update(&h, buf, len);     // any number of times
 *     uint8_t d[32];
 *     rt_blake2b_final(&h, d);
 *     char hex[65];
 *     rt_hex(d, 32, hex);
 *
 * Tested against RFC 7693's "abc" vector and Python's hashlib.blake2b.
 */
#ifndef RT_BLAKE2B_H
#define RT_BLAKE2B_H

#include <stddef.h>
#include <stdint.h>

typedef struct rt_blake2b {
    uint64_t h[8];
    uint64_t t[2];      /* bytes compressed so far (128-bit counter) */
    uint8_t block[128];
    size_t fill;        /* bytes in block */
    size_t outlen;
} rt_blake2b;

void rt_blake2b_init(rt_blake2b *s, size_t outlen);
void rt_blake2b_update(rt_blake2b *s, const void *data, size_t n);
void rt_blake2b_final(rt_blake2b *s, uint8_t *out);
/* One call over a buffer. */
void rt_blake2b_buf(const void *data, size_t n, uint8_t *out, size_t outlen);
/* n bytes as lower-case hex, NUL-terminated (2n + 1 chars). */
void rt_hex(const uint8_t *d, size_t n, char *hex);

#endif
