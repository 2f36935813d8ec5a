/*
 * NAME
 *	collector - read log sources line by line, with byte positions
 *
 * SYNOPSIS
 *	#include "collector/collector.h"
 *
 *	struct lineread *lr_open(const char *path, char *err, size_t errlen);
 *	int lr_next(struct lineread *lr, const char **line, size_t *len, int64_t *pos);
 *	const char *lr_identity(struct lineread *lr);
 *	void lr_close(struct lineread *lr);
 *
 *	struct tail *tail_open(const char *path, char *err, size_t errlen);
 *	const char *tail_identity(struct tail *t);
 *	void tail_seek(struct tail *t, int64_t offset);
 *	int tail_next(struct tail *t, const char **line, size_t *len, int64_t *pos);
 *	int64_t tail_lag(struct tail *t);
 *	void tail_close(struct tail *t);
 *
 * DESCRIPTION
 *	lr_open() opens a whole file for one pass ("-" is standard input); gzip files are
 *	decompressed transparently, and positions are offsets in the decompressed text.
 *	lr_next() returns 1 and the next line (without its newline; a last line without one is
 *	returned too), 0 at the end, -1 on a read error (logged). *pos is the byte offset where
 *	the line starts. Lines longer than COLLECT_MAX_LINE are cut and the rest skipped.
 *
 *	lr_identity() and tail_identity() name the file by its content, not its path: a hash of
 *	its first line, so the same log imported again, or grown, keeps its identity. They are
 *	"" until the first line is complete.
 *
 *	tail_open() opens a growing file for following, at offset 0; NULL and a message when
 *	it cannot be opened. tail_identity() reads the first line if needed and returns the
 *	identity, "" while the file has no complete line yet. tail_seek() moves to a byte
 *	offset (a committed checkpoint). tail_next() returns 1 and a complete line, 0 when
 *	there is none yet (a partial last line waits for its newline), -1 on a read error, and
 *	-2 when the file was replaced (the path names another inode, once the old one is read
 *	to its end) or truncated below the position: the caller then closes it and opens the
 *	path again as a new source. tail_lag() is the number of bytes in the file after the
 *	position.
 *
 * OWNERSHIP
 *	The line pointer is valid until the next call on the same reader.
 */
#ifndef MAILPULSE_COLLECTOR_H
#define MAILPULSE_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#define COLLECT_MAX_LINE 65536

struct lineread;
struct tail;

struct lineread *lr_open(const char *path, char *err, size_t errlen);
int lr_next(struct lineread *lr, const char **line, size_t *len, int64_t *pos);
const char *lr_identity(struct lineread *lr);
void lr_close(struct lineread *lr);

struct tail *tail_open(const char *path, char *err, size_t errlen);
const char *tail_identity(struct tail *t);
void tail_seek(struct tail *t, int64_t offset);
int tail_next(struct tail *t, const char **line, size_t *len, int64_t *pos);
int64_t tail_lag(struct tail *t);
void tail_close(struct tail *t);

#endif
