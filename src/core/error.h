/*
 * error.h - status codes and the last-error message of the library.
 *
 * Library functions return an rt_status and record a human-readable message
 * with rt_error(); only cli/ prints it (as "retort: <message>") and picks the
 * exit code. RT_ASSERT is for programmer errors only (file:line, abort).
 *
 *     if (!f) return rt_error(RT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
 *     ...
 *     if (rt_graph_plan(g, true) != RT_OK) fprintf(stderr, "retort: %s\n", rt_errmsg());
 */
#ifndef RT_ERROR_H
#define RT_ERROR_H

#include <stdio.h>
#include <stdlib.h>

typedef enum rt_status {
    RT_OK = 0,
    RT_ERR_NOMEM,      /* allocation failed */
    RT_ERR_ARG,        /* bad argument or setting */
    RT_ERR_SHAPE,      /* shapes do not fit */
    RT_ERR_IO,         /* open/read/write failed */
    RT_ERR_FORMAT,     /* a file's contents are malformed */
    RT_ERR_UNKNOWN,    /* unknown name (op, tensor, tap, preset) */
    RT_ERR_NONFINITE,  /* NaN or Inf where a finite number is required */
    RT_ERR_UNSUPPORTED,/* valid but not supported by this build */
    RT_STATUS_COUNT
} rt_status;

/* Record a printf-style message for the calling thread; returns s. */
rt_status rt_error(rt_status s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The calling thread's last message ("" if none). */
const char *rt_errmsg(void);
/* Forget the last message. */
void rt_error_clear(void);
/* A short name for a status ("out of memory", "shape mismatch", ...). */
const char *rt_status_str(rt_status s);

#define RT_ASSERT(cond)                                                       \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: internal error: assertion '%s' failed\n", \
                    __FILE__, __LINE__, #cond);                               \
            abort();                                                          \
        }                                                                     \
    } while (0)

#endif
