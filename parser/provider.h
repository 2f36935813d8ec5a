/*
 * NAME
 *	provider - who is on the other end: mailbox providers, and the blocklists and policy
 *	blocks their replies name
 *
 * SYNOPSIS
 *	#include "parser/provider.h"
 *
 *	const char *provider_of(const char *relay, const char *domain);
 *	int provider_add(const char *pattern, const char *provider);
 *	int provider_load(const char *path, char *err, size_t errlen);
 *	size_t provider_names(const char *const **names);
 *	void provider_reset(void);
 *
 *	const struct block *block_match(const char *reply, size_t len);
 *	const struct block *block_named(const char *name);
 *	const struct block *block_named(const char *name);
const char *block_kind_name(enum block_kind kind);
 *
 * DESCRIPTION
 *	provider_of() names the mailbox provider that received (or refused) a delivery: from
 *	the relay host first (a delivery line's relay=, "gmail-smtp-in.l.google.com[1.2.3.4]:25";
 *	the address and port are ignored), which also catches the many domains a provider hosts
 *	under their own names, then from the recipient domain. Either may be NULL or "". The
 *	answer is one of a bounded set of names ("google", "microsoft", "yahoo", ... and
 *	"other"), so it can label metrics. Matching is case-insensitive. A pattern is a domain
 *	suffix on label boundaries ("google.com" matches "aspmx.l.google.com" and "google.com",
 *	not "notgoogle.com"); a pattern ending in ".*" matches that name under any public
 *	suffix ("hotmail.*": hotmail.com, hotmail.co.uk, hotmail.fr).
 *
 *	provider_add() puts a rule in front of the shipped table (so a site can name its own
 *	hosting or correct a rule); provider_load() reads such rules from a file, one
 *	"PATTERN PROVIDER" per line, '#' comments. Both return 0, or -1 when the rule is
 *	malformed or the tables are full (PROVIDER_MAX_RULES added rules, PROVIDER_MAX_NAMES
 *	names). provider_names() lists every name provider_of() can answer, "other" last.
 *	provider_reset() forgets the added rules.
 *
 *	block_match() recognises a reply that names a blocklist (Spamhaus ZEN/SBL/XBL/PBL/DBL,
 *	Barracuda, SpamCop, UCEPROTECT, ...) or a provider's block or rate rule (Microsoft's
 *	S3140 and banned sending IP, Yahoo's TSS codes, Gmail's 4.7.28 rate and 5.7.26
 *	authentication blocks, Proofpoint, Mimecast, ...): the first rule of the table whose
 *	words all occur in the reply (case-insensitive), or NULL. More specific rules come
 *	before general ones. block_named() finds a rule by its name (as stored), or NULL;
 *	block_kind_name() names a kind: "list", "policy", "rate" or "auth".
 *
 * OWNERSHIP
 *	Every returned name and rule is static (or lives until provider_reset()).
 *
 * DIAGNOSTICS
 *	provider_load() writes the file name and line of the first bad rule into err.
 */
#ifndef MAILPULSE_PARSER_PROVIDER_H
#define MAILPULSE_PARSER_PROVIDER_H

#include <stddef.h>

#define PROVIDER_MAX_RULES 256
#define PROVIDER_MAX_NAMES 64
#define PROVIDER_OTHER     "other"

enum block_kind {
    BLOCK_LIST,   /* a DNS blocklist or reputation list names the sending IP or domain */
    BLOCK_POLICY, /* a provider refuses the sender by its own rule */
    BLOCK_RATE,   /* a provider slows the sender down */
    BLOCK_AUTH    /* a provider wants SPF, DKIM or DMARC to pass */
};

struct block {
    const char *words[3]; /* all must occur; NULL-terminated when fewer */
    const char *name;     /* "Spamhaus ZEN", "Microsoft S3140" */
    const char *operator; /* who runs it: "Spamhaus", "Microsoft" */
    enum block_kind kind;
};

const char *provider_of(const char *relay, const char *domain);
int provider_add(const char *pattern, const char *provider);
int provider_load(const char *path, char *err, size_t errlen);
size_t provider_names(const char *const **names);
void provider_reset(void);

const struct block *block_match(const char *reply, size_t len);
const struct block *block_named(const char *name);
const char *block_kind_name(enum block_kind kind);

#endif
