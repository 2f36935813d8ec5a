/*
 * xalloc - allocation that never returns NULL
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static void out_of_memory(size_t size)
{
    fprintf(stderr, "mailpulse: error: out of memory allocating %zu bytes\n", size);
    abort();
}

/* xmalloc - malloc or abort */
void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        out_of_memory(size);
    return p;
}

/* xcalloc - zeroed array, overflow-checked, or abort */
void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (p == NULL)
        out_of_memory(nmemb * size);
    return p;
}

/* xrealloc - realloc or abort */
void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL)
        out_of_memory(size);
    return p;
}

/* xstrdup - strdup or abort */
char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);

    memcpy(p, s, n);
    return p;
}

/* x_free - free; NULL is a no-op */
void x_free(void *ptr)
{
    free(ptr);
}

/* xgrow - room for element n of a doubling array: reallocate when it is full */
void *xgrow(void *arr, size_t *cap, size_t n, size_t elem, size_t initial)
{
    if (n < *cap)
        return arr;
    *cap = *cap ? *cap * 2 : initial;
    return xrealloc(arr, *cap * elem);
}
