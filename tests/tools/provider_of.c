/*
 * NAME
 *	provider_of - name the mailbox provider of relay hosts read from stdin
 *
 * SYNOPSIS
 *	provider_of [--providers FILE] < relays
 *
 * DESCRIPTION
 *	Reads one relay per line ("host", "host[addr]:port" or "host domain") and writes
 *	"relay<TAB>provider" for each: what parser/provider.c's provider_of() answers for it,
 *	with site rules from FILE first. Lines are cut at 1023 bytes.
 *
 * OWNERSHIP
 *	None.
 *
 * DIAGNOSTICS
 *	Exit status 2 on a bad argument or a file provider_load() refuses, else 0.
 */
#include <stdio.h>
#include <string.h>

#include "parser/provider.h"

/* main - one answer per input line */
int main(int argc, char **argv)
{
    char line[1024], err[256];
    char *domain;
    size_t n;

    if (argc == 3 && strcmp(argv[1], "--providers") == 0) {
        if (provider_load(argv[2], err, sizeof(err)) < 0) {
            fprintf(stderr, "provider_of: %s\n", err);
            return 2;
        }
    } else if (argc != 1) {
        fprintf(stderr, "usage: provider_of [--providers FILE] < relays\n");
        return 2;
    }
    while (fgets(line, sizeof(line), stdin) != NULL) {
        n = strcspn(line, "\r\n");
        line[n] = 0;
        domain = strchr(line, ' ');
        if (domain != NULL)
            *domain++ = 0;
        printf("%s\t%s\n", line, provider_of(line, domain));
    }
    return 0;
}
