/*
 * sha256.h - SHA-256 (FIPS 180-4), for content keys (the feature cache).
 *
 *     rt_sha256 h;
 *     rt_sha256_init(&h);
 *     rt_sha256_update(&h, buf, len);      // any number of times
 *     uint8_t d[RT_SHA256_BYTES];
 *     rt_sha256_final(&h, d);
 *     char hex[2 * RT_SHA256_BYTES + 1];
 *     rt_sha256_hex(d, hex);
 *
 * Portable C, no allocation; tested against the FIPS 180-2 examples.
 */
#ifndef RT_SHA256_H
#define RT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define RT_SHA256_BYTES 32

typedef struct rt_sha256 {
    uint32_t h[8];
    uint64_t len;        /* bytes so far */
    uint8_t block[64];
    size_t fill;         /* bytes in block */
} rt_sha256;

void rt_sha256_init(rt_sha256 *s);
void rt_sha256_update(rt_sha256 *s, const void *data, size_t n);
void rt_sha256_final(rt_sha256 *s, uint8_t out[RT_SHA256_BYTES]);
/* One call over a buffer. */
void rt_sha256_buf(const void *data, size_t n, uint8_t out[RT_SHA256_BYTES]);
/* Lower-case hex, NUL-terminated (65 bytes). */
void rt_sha256_hex(const uint8_t d[RT_SHA256_BYTES], char hex[2 * RT_SHA256_BYTES + 1]);

#endif
