/* asyncd's options: one table serves the command line and the
 * configuration file, whose keys are the long option names. */
#ifndef ASYNCD_OPTIONS_H
#define ASYNCD_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#define OPTIONS_MAX_KIND_LIMITS 16

/* The limits of one kind to apply once the kinds are set up: a
 * --max-running KIND=N (or --max-downloads ...) and a
 * --max-running-per-user KIND=N; 0 where none was given. */
struct kind_limit {
	char kind[32];
	unsigned n;
	unsigned per_user;
};

struct option_state {
	int log_level;
	bool log_level_set;
	char log_target[8]; /* stderr, journal or auto */
	char *config_file; /* --config, or NULL for the default */
	struct kind_limit kind_limits[OPTIONS_MAX_KIND_LIMITS];
	size_t nkind_limits;
};

extern struct option_state option_state;

/* Sets the defaults of daemon_opts. */
void options_defaults(void);
/* Applies option NAME (a long option name) with VALUE (NULL for a flag).
 * Returns 0, or -1 with a message in ERR. */
int options_set(const char *name, const char *value, char *err, size_t size);
/* Checks what options_set() would, and changes nothing. */
int options_check(const char *name, const char *value, char *err,
		  size_t size);
/* Parses argv; exits on --help, --version and usage errors. */
void options_parse_argv(int argc, char **argv);

#endif
