/*
 * error.c - thread-local last-error message (see error.h).
 */
#include "core/error.h"

#include <stdarg.h>
#include <string.h>

static _Thread_local char rt_err_buf[1024];

/* Formatted into a scratch buffer first: callers may pass rt_errmsg() as an argument
 * ("%s: %s", path, rt_errmsg()), which vsnprintf must not read while writing it. */
rt_status rt_error(rt_status s, const char *fmt, ...)
{
    char tmp[sizeof rt_err_buf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(rt_err_buf, tmp, sizeof tmp);
    return s;
}

const char *rt_errmsg(void) { return rt_err_buf; }

void rt_error_clear(void) { rt_err_buf[0] = '\0'; }

const char *rt_status_str(rt_status s)
{
    static const char *const names[RT_STATUS_COUNT] = {
        [RT_OK] = "ok",
        [RT_ERR_NOMEM] = "out of memory",
        [RT_ERR_ARG] = "bad argument",
        [RT_ERR_SHAPE] = "shape mismatch",
        [RT_ERR_IO] = "i/o error",
        [RT_ERR_FORMAT] = "malformed file",
        [RT_ERR_UNKNOWN] = "unknown name",
        [RT_ERR_NONFINITE] = "non-finite value",
        [RT_ERR_UNSUPPORTED] = "unsupported",
    };
    return (s >= 0 && s < RT_STATUS_COUNT && names[s]) ? names[s] : "unknown status";
}
