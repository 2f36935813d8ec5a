/*
 * migrations - the schema migrations compiled in from sql/ (see scripts/embed-sql.sh)
 *
 * migrations[] holds every sql/NNN_name.sql in version order; private to db/.
 */
#ifndef MAILPULSE_MIGRATIONS_H
#define MAILPULSE_MIGRATIONS_H

struct migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct migration migrations[];
extern const int migrations_count;

#endif
