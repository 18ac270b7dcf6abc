/* The configuration file, parsed with libinih. Keys stand outside any
 * section; each is a long option and goes through options_set(). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "runtime.h"
#include "jobs.h"
#include "log.h"
#include "options.h"
#include "sched.h"
#include "xmalloc.h"

/* The options a SIGHUP may change: limits read whenever they are used. */
static const char *const config_runtime_keys[] = {
	"max-queued",    "max-queued-per-user", "keep-finished",
	"max-connections", "max-request",       "output-hwm",
	"max-running",   "max-downloads",       "max-processes",
	"max-running-per-user",
	"log-level",     "idle-exit",           "keep-output",
	"keep-output-total", "stop-timeout",
	"max-connections-per-user", "request-timeout", "output-limit",
	"output-hwm-timeout",
};

/* What the command line set: option names, "kind:KIND" for the per-kind
 * limits (--max-running KIND=N, --max-downloads, ...) and "user:KIND" for
 * the per-user caps (--max-running-per-user KIND=N). */
static char **config_argv_keys;
static size_t config_nargv_keys;

struct config_parse {
	const char *path;
	FILE *fp;
	char *line; /* the raw current line */
	size_t cap;
	int lineno;
	bool reload;
	int errors;
};

static bool
config_is_runtime_key(const char *name)
{
	for (size_t i = 0; i < sizeof config_runtime_keys /
					sizeof config_runtime_keys[0]; i++)
		if (strcmp(config_runtime_keys[i], name) == 0)
			return true;
	return false;
}

/* The key under which NAME=VALUE is noted: "kind:KIND" for the per-kind
 * limits, "user:KIND" for the per-user caps, else NAME. */
static void
config_note_key(const char *name, const char *value, char *buf, size_t size)
{
	const char *kind = NULL, *prefix = "kind";
	size_t len = 0;

	if (strcmp(name, "max-downloads") == 0)
		kind = "download", len = 8;
	else if (strcmp(name, "max-processes") == 0)
		kind = "process", len = 7;
	else if ((strcmp(name, "max-running") == 0 ||
		  strcmp(name, "max-running-per-user") == 0) &&
		 value != NULL) {
		kind = value;
		len = strcspn(value, "=");
		if (strcmp(name, "max-running-per-user") == 0)
			prefix = "user";
	}
	if (kind != NULL)
		snprintf(buf, size, "%s:%.*s", prefix, (int)len, kind);
	else
		snprintf(buf, size, "%s", name);
}

static bool
config_set_by_argv(const char *name, const char *value)
{
	char key[64];

	config_note_key(name, value, key, sizeof key);
	for (size_t i = 0; i < config_nargv_keys; i++)
		if (strcmp(config_argv_keys[i], key) == 0)
			return true;
	return false;
}

static void
config_note_argv(const char *name, const char *value)
{
	char key[64];

	config_note_key(name, value, key, sizeof key);
	config_argv_keys = xreallocarray(config_argv_keys,
					 config_nargv_keys + 1, sizeof(char *));
	config_argv_keys[config_nargv_keys++] = xstrdup(key);
}

/* The default configuration file of this user, or NULL. */
static char *
config_default_path(void)
{
	const char *dir;
	char *path;

	if (geteuid() == 0)
		return xstrdup(CONFIG_SYSTEM_PATH);
	if ((dir = getenv("XDG_CONFIG_HOME")) != NULL && dir[0] == '/') {
		if (asprintf(&path, "%s/asyncd/asyncd.conf", dir) < 0)
			fatal("asprintf");
		return path;
	}
	if ((dir = getenv("HOME")) != NULL && dir[0] == '/') {
		if (asprintf(&path, "%s/.config/asyncd/asyncd.conf", dir) < 0)
			fatal("asprintf");
		return path;
	}
	return NULL;
}

char *
config_scan_argv(int argc, char **argv, bool *must_exist)
{
	const char *config = NULL;

	config_free();
	*must_exist = false;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value, *eq;
		char name[64];

		if (strcmp(arg, "--") == 0)
			break;
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "-V") == 0 ||
		    strcmp(arg, "--help") == 0 || strcmp(arg, "--version") == 0)
			return NULL;
		if (strncmp(arg, "--", 2) != 0)
			continue;
		arg += 2;
		/* Every option but --help and --version takes a value. */
		if ((eq = strchr(arg, '=')) != NULL) {
			snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
			value = eq + 1;
		} else {
			snprintf(name, sizeof name, "%s", arg);
			value = i + 1 < argc ? argv[++i] : NULL;
		}
		if (strcmp(name, "config") == 0 && value != NULL) {
			config = value;
			*must_exist = true;
		}
		config_note_argv(name, value);
	}
	return config != NULL ? xstrdup(config) : config_default_path();
}

void
config_free(void)
{
	for (size_t i = 0; i < config_nargv_keys; i++)
		free(config_argv_keys[i]);
	free(config_argv_keys);
	config_argv_keys = NULL;
	config_nargv_keys = 0;
}

static void __attribute__((format(printf, 2, 3)))
config_error(struct config_parse *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warnx("%s:%d: %s", p->path, p->lineno, msg);
	p->errors++;
}

/* Hands inih one line at a time, so that p->lineno is inih's line
 * number, after checking what inih would accept silently or otherwise:
 * sections, lines without '=', over-long lines, and indented lines,
 * which inih would take as the continuation of the previous value. */
static char *
config_reader(char *str, int num, void *stream)
{
	struct config_parse *p = stream;
	ssize_t n;
	char *s;

	if ((n = getline(&p->line, &p->cap, p->fp)) < 0)
		return NULL;
	p->lineno++;
	s = p->line;
	if (p->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	s += strspn(s, " \t");
	if (strlen(s) != (size_t)(n - (s - p->line)))
		config_error(p, "NUL byte in line");
	else if (strlen(s) >= (size_t)num)
		config_error(p, "line longer than %d bytes", num - 2);
	else if (*s == '[')
		config_error(p, "sections are not used: keys stand alone");
	else if (strchr("#;\r\n", *s) == NULL && *s != '\0' &&
		 strpbrk(s, "=:") == NULL)
		config_error(p, "expected KEY = VALUE");
	else {
		memcpy(str, s, strlen(s) + 1);
		return str;
	}
	/* Reported: inih gets an empty line instead. */
	memcpy(str, "\n", 2);
	return str;
}

/* Reports ERR, options_set()'s message about NAME, at the current line. */
static void
config_option_error(struct config_parse *p, const char *name, const char *err)
{
	if (strstr(err, name) != NULL)
		config_error(p, "%s", err);
	else
		config_error(p, "%s: %s", name, err);
}

static int
config_handler(void *user, const char *section, const char *name,
	       const char *value)
{
	struct config_parse *p = user;
	char err[256];

	if (*section != '\0') {
		config_error(p, "sections are not used: keys stand alone");
		return 1;
	}
	if (*value == '\0') {
		config_error(p, "%s: no value", name);
		return 1;
	}
	if (strcmp(name, "config") == 0 || strcmp(name, "help") == 0 ||
	    strcmp(name, "version") == 0) {
		config_error(p, "%s: not a configuration key", name);
		return 1;
	}
	if (p->reload) {
		/* A key start-up would refuse makes the whole file wrong,
		 * even one a reload would not apply. */
		if (options_check(name, value, err, sizeof err) < 0) {
			config_option_error(p, name, err);
			return 1;
		}
		if (!config_is_runtime_key(name)) {
			log_info("%s:%d: %s takes effect only at start; "
				 "ignored", p->path, p->lineno, name);
			return 1;
		}
		if (config_set_by_argv(name, value)) {
			log_info("%s:%d: %s: the command line's value stays",
				 p->path, p->lineno, name);
			return 1;
		}
	}
	if (options_set(name, value, err, sizeof err) < 0)
		config_option_error(p, name, err);
	return 1;
}

/* Parses PATH's open file FP. Returns the number of errors reported. */
static int
config_parse_file(const char *path, FILE *fp, bool reload)
{
	struct config_parse p = {.path = path, .fp = fp, .reload = reload};
	int rc;

	rc = ini_parse_stream(config_reader, &p, config_handler, &p);
	if (rc > 0 && p.errors == 0) {
		p.lineno = rc;
		config_error(&p, "syntax error");
	} else if (rc < 0) {
		log_warnx("%s: cannot parse", path);
		p.errors++;
	}
	if (ferror(fp)) {
		log_warn("%s: read error", path);
		p.errors++;
	}
	free(p.line);
	return p.errors;
}

int
config_load(const char *path, bool must_exist)
{
	FILE *fp;
	int errors;

	if (path == NULL)
		return 0;
	if ((fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT && !must_exist) {
			log_debug("no configuration file %s", path);
			return 0;
		}
		if (errno == EACCES && !must_exist) {
			/* Say so, but a default path is no reason not to run. */
			log_warn("%s: skipped", path);
			return 0;
		}
		log_warn("%s", path);
		return -1;
	}
	errors = config_parse_file(path, fp, false);
	fclose(fp);
	return errors > 0 ? -1 : 0;
}

int
config_reload(const char *path)
{
	struct daemon_options saved_opts = daemon_opts;
	struct option_state saved_state = option_state;
	FILE *fp;
	int errors;

	if (path == NULL) {
		log_info("no configuration file to re-read");
		return 0;
	}
	if ((fp = fopen(path, "re")) == NULL) {
		log_warn("%s: not re-read", path);
		return -1;
	}
	/* Run-time keys are plain values: a failed reload restores them by
	 * copying the structures back. */
	errors = config_parse_file(path, fp, true);
	fclose(fp);
	if (errors > 0) {
		daemon_opts = saved_opts;
		option_state = saved_state;
		log_warnx("%s: not re-read; the previous settings stay", path);
		return -1;
	}
	/* The options checked the kinds. */
	for (size_t i = 0; i < option_state.nkind_limits; i++) {
		const struct kind_limit *kl = &option_state.kind_limits[i];
		if (kl->n != 0)
			sched_set_max_running(kl->kind, kl->n);
		if (kl->per_user != 0)
			sched_set_max_running_per_user(kl->kind, kl->per_user);
	}
	log_set_level(option_state.log_level);
	log_notice("%s: re-read", path);
	return 0;
}
