/* The stand-ins' log: one line appended to the file FAKE_CUDA_LOG names (nothing when it is unset). */
#ifndef FAKE_LOG_H
#define FAKE_LOG_H
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static void logf_(const char *fmt, ...) {
    const char *path = getenv("FAKE_CUDA_LOG");
    if (!path || !*path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}
#endif
