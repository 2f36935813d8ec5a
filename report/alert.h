/*
 * NAME
 *	alert - the alert rules: numbers in, fire / hold / clear out, without flapping
 *
 * SYNOPSIS
 *	#include "report/alert.h"
 *
 *	void alert_defaults(struct alert_conf *c);
 *	const char *alert_rule_name(enum alert_rule rule);
 *	int alert_rule_parse(const char *name, size_t len, enum alert_rule *out);
 *	const char *alert_severity_name(enum alert_severity s);
 *	int alert_conf_set(struct alert_conf *c, const char *key, const char *value);
 *	enum alert_severity alert_judge(const struct alert_rule_conf *rc, enum alert_rule rule,
 *					const struct alert_numbers *x);
 *	int alert_below(const struct alert_rule_conf *rc, enum alert_rule rule,
 *			const struct alert_numbers *x);
 *	enum alert_change alert_step(const struct alert_rule_conf *rc, enum alert_rule rule,
 *				     const struct alert_numbers *x, struct alert_state *st);
 *	enum alert_change alert_gone(const struct alert_rule_conf *rc, struct alert_state *st);
 *	void alert_numbers_json(enum alert_rule rule, const struct alert_numbers *x,
 *				struct buf *out);
 *
 * DESCRIPTION
 *	A rule looks at one subject (a provider, a recipient or sender domain, a host, a
 *	host and block name, the daemon itself) through four counts: the current window's
 *	volume and bad count (cur_n, cur_bad) and the baseline window's (base_n, base_bad).
 *	What "bad" is depends on the rule (bounced, deferred, expired attempts, complaints,
 *	block hits, seconds stalled).
 *
 *	alert_judge() says what the numbers alone are worth: ALERT_NONE, ALERT_WARNING or
 *	ALERT_CRITICAL. Rate rules (bounce, deferral, expiry) fire when the volume reaches
 *	min_volume, the rate reaches the absolute floor "warning" and is at least "factor"
 *	times the baseline rate; "critical" is a second, higher floor. The complaint rule uses
 *	fixed lines (0.1 % and 0.3 % by default) and no baseline. A new block fires on
 *	min_volume hits in the window when the baseline had none; volume-zero fires when the
 *	baseline averaged at least min_volume attempts an hour and the window has none;
 *	ingest-stalled fires when cur_bad (seconds) reaches the floor.
 *
 *	alert_below() says whether the numbers are under the lower, clearing line: the rate
 *	under clear_ratio times each line it had to pass, or volume under min_volume (a
 *	subject that stopped receiving mail cannot keep its alert).
 *
 *	alert_step() moves one subject's state: an inactive subject fires at once; an active
 *	one escalates to critical but never drops back (it clears instead), and clears only
 *	after clear_periods consecutive evaluations below the clearing line. Numbers between
 *	the two lines keep the alert and reset the count. An alert reports the numbers of its
 *	last firing evaluation (st->x, set only when alert_judge() says warning or critical,
 *	st->firing then 1), so an ended alert still shows what fired it; the evaluation that
 *	ends it leaves its own numbers in st->end.
 *
 *	alert_gone() is alert_step() for a subject that no longer appears in the numbers at
 *	all (no traffic in either window): a period below the clearing line; an alert it ends
 *	has zeros in st->end.
 *
 *	alert_conf_set() applies one [alerts] key: RULE_enabled, RULE_warning, RULE_critical,
 *	RULE_factor, RULE_min_volume, RULE_clear_ratio, RULE_clear_periods (rates as percent).
 *
 * OWNERSHIP
 *	Everything is a value; alert_numbers_json() appends to the caller's buffer.
 *
 * DIAGNOSTICS
 *	alert_conf_set() and alert_rule_parse() return -1 for an unknown key, rule or a value
 *	out of range; the caller names the key.
 */
#ifndef MAILPULSE_ALERT_H
#define MAILPULSE_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

enum alert_rule {
    ALERT_BOUNCE_PROVIDER,
    ALERT_BOUNCE_DOMAIN,
    ALERT_DEFERRAL_PROVIDER,
    ALERT_DEFERRAL_DOMAIN,
    ALERT_BLOCK_NEW,
    ALERT_COMPLAINT,
    ALERT_EXPIRY,
    ALERT_VOLUME_ZERO,
    ALERT_INGEST_STALLED,
    ALERT_NRULES
};

enum alert_severity { ALERT_NONE, ALERT_WARNING, ALERT_CRITICAL };

enum alert_change { ALERT_SAME, ALERT_FIRED, ALERT_ESCALATED, ALERT_CLEARED };

struct alert_rule_conf {
    int enabled;
    double warning;     /* rate floor (fraction), or hits, or seconds */
    double critical;    /* the higher floor */
    double factor;      /* times the baseline rate (rate rules) */
    int64_t min_volume; /* attempts in the window, hits, or attempts an hour (volume_zero) */
    double clear_ratio; /* the clearing line is this times the firing line */
    int clear_periods;  /* evaluations below the clearing line before the alert ends */
};

struct alert_conf {
    struct alert_rule_conf rule[ALERT_NRULES];
};

struct alert_numbers {
    int64_t cur_n, cur_bad;   /* the current window */
    int64_t base_n, base_bad; /* the baseline window */
    double base_hours;        /* the baseline window's length */
};

/* One subject's place in the hysteresis, and the numbers an alert reports. */
struct alert_state {
    enum alert_severity sev;  /* ALERT_NONE: not active */
    int below;                /* consecutive evaluations under the clearing line */
    int firing;               /* the last evaluation judged the numbers worth an alert */
    struct alert_numbers x;   /* the numbers of the last evaluation that did */
    struct alert_numbers end; /* the numbers of the evaluation that ended the alert */
};

void alert_defaults(struct alert_conf *c);
const char *alert_rule_name(enum alert_rule rule);
int alert_rule_parse(const char *name, size_t len, enum alert_rule *out);
const char *alert_severity_name(enum alert_severity s);
int alert_conf_set(struct alert_conf *c, const char *key, const char *value);
enum alert_severity alert_judge(const struct alert_rule_conf *rc, enum alert_rule rule,
                                const struct alert_numbers *x);
int alert_below(const struct alert_rule_conf *rc, enum alert_rule rule,
                const struct alert_numbers *x);
enum alert_change alert_step(const struct alert_rule_conf *rc, enum alert_rule rule,
                             const struct alert_numbers *x, struct alert_state *st);
enum alert_change alert_gone(const struct alert_rule_conf *rc, struct alert_state *st);
void alert_numbers_json(enum alert_rule rule, const struct alert_numbers *x, struct buf *out);

#endif
