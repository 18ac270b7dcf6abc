/* The DURATION and TIME arguments of asyncctl's options (asyncctl(1)):
 * a delay in milliseconds, a moment as RFC 3339 text for the daemon. */
#ifndef ASYNCCTL_WHEN_H
#define ASYNCCTL_WHEN_H

#include <time.h>

/* Reads a DURATION: a number (fractions allowed) and a unit, ms, s, m, h
 * or d, none meaning seconds ("90", "500ms", "1.5s", "2h"). Milliseconds
 * into *MS, rounded; -1 when TEXT is not one. */
int when_duration(const char *text, long long *ms);
/* Reads a TIME: RFC 3339 ("2026-11-30T18:00:00Z", an offset allowed),
 * kept as it is, or a local HH:MM (or HH:MM:SS), the next such moment
 * after NOW, today or tomorrow, written as RFC 3339 UTC. Malloc'd; NULL
 * when TEXT is neither. */
char *when_time(const char *text, time_t now);

#endif
