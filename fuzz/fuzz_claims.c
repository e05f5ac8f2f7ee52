/*
 * fuzz_claims.c - libFuzzer target for `retort verify`'s claims files
 * (rt_claims_parse: JSON, every field's checks, stated values, tolerances)
 * and the stated-value parser on its own (rt_stated_parse); every parsed
 * claim is judged at a few measured values and formatted.
 *
 *     make fuzz && build/fuzz/fuzz_claims -max_total_time=60 fuzz/seeds/fuzz_claims
 *
 * Any input must give claims or an error status with a message; never a
 * crash, leak or overflow.
 */
#include "core/error.h"
#include "report/verify.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rt_claims cl;
    rt_status s = rt_claims_parse(&cl, (const char *)data, size, "fuzz.json");
    if (s == RT_OK) {
        RT_ASSERT(cl.n >= 1 && cl.c);
        static const double m[] = {0, -1, 0.05, 1e300, NAN, INFINITY, 27802};
        for (int i = 0; i < cl.n; i++) {
            RT_ASSERT(cl.c[i].text && cl.c[i].q < RT_Q_COUNT);
            for (size_t k = 0; k < sizeof m / sizeof m[0]; k++) {
                rt_claim_result r;
                enum rt_verdict v = rt_verify_judge(&cl.c[i], m[k], &r);
                RT_ASSERT(v == RT_VERDICT_TRUE || v == RT_VERDICT_FALSE || v == RT_VERDICT_UNSUPPORTED);
                RT_ASSERT(isfinite(m[k]) || v == RT_VERDICT_UNSUPPORTED);
                char buf[64];
                rt_verify_fmt(buf, sizeof buf, &cl.c[i], m[k]);
            }
        }
        rt_claims_free(&cl);
    } else {
        RT_ASSERT(rt_errmsg()[0] != '\0');
    }
    if (size < 256) { /* the same bytes as one stated value */
        char text[256];
        memcpy(text, data, size);
        text[size] = 0;
        rt_stated st;
        if (rt_stated_parse(&st, text) == RT_OK) RT_ASSERT(st.form != RT_STATED_RANGE || st.lo <= st.hi);
    }
    return 0;
}
