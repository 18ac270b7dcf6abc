/* The state directory: where it is, that nobody else can tamper with it,
 * and that one daemon at a time uses it. */
#ifndef ASYNCD_STATE_DIR_H
#define ASYNCD_STATE_DIR_H

/* The directory --state-dir names, or the default for this user when
 * OPTION is NULL: /var/lib/asyncd for root, else
 * $XDG_STATE_HOME/asyncd (~/.local/state/asyncd). NULL for "none".
 * Malloc'd. */
char *state_dir_resolve(const char *option);
/* Creates DIR (0700) when missing, refuses one owned by another user or
 * writable by others, and takes its lock, held until exit. Returns 0, or
 * -1 after logging why. */
int state_dir_open(const char *dir);

#endif
