/*
 * NAME
 *	remoteid - the remote side's transaction id in an SMTP reply
 *
 * SYNOPSIS
 *	#include "parser/remoteid.h"
 *
 *	const char *remote_id(const char *reply, size_t len, char *out, size_t outlen);
 *
 * DESCRIPTION
 *	remote_id() finds the id under which the receiving server took a message, in the text
 *	of its reply to the end of the data (len bytes, with or without the code), and copies it
 *	into out (outlen bytes, NUL-terminated, cut to fit). It returns the name of the reply
 *	form that matched ("postfix", "gmail", "microsoft" ...), or NULL with out set to ""
 *	when the reply names no id. The forms are one table in remoteid.c, tried in order.
 *
 * OWNERSHIP
 *	The returned name is static. out belongs to the caller.
 */
#ifndef MAILPULSE_REMOTEID_H
#define MAILPULSE_REMOTEID_H

#include <stddef.h>

const char *remote_id(const char *reply, size_t len, char *out, size_t outlen);

#endif
