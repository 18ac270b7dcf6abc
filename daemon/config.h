/* The configuration file: "key = value" lines whose keys are the long
 * options. It is read before the command line, so the command line wins. */
#ifndef ASYNCD_CONFIG_H
#define ASYNCD_CONFIG_H

#include <stdbool.h>

#define CONFIG_SYSTEM_PATH "/etc/asyncd/asyncd.conf"

/* Finds --config in ARGV, else the default path (CONFIG_SYSTEM_PATH as
 * root, $XDG_CONFIG_HOME/asyncd/asyncd.conf otherwise), and notes which
 * options ARGV sets so that config_reload leaves them alone. Returns the
 * path to free, or NULL for no file (--help, --version, no home);
 * *MUST_EXIST is true when --config named it. */
char *config_scan_argv(int argc, char **argv, bool *must_exist);

/* Applies every key of PATH with options_set(). A missing file is an
 * error only when MUST_EXIST. Returns 0, or -1 after logging each problem
 * as "PATH:LINE: message". */
int config_load(const char *path, bool must_exist);

/* Re-reads PATH and applies the keys that can change while running (the
 * limits and the log level), except those the command line set; logs and
 * ignores the others. Any error, an unknown key or a bad value of a key
 * that applies only at start included, is logged as "PATH:LINE: ...";
 * then nothing changes and -1 is returned. */
int config_reload(const char *path);

/* Forgets what config_scan_argv noted. */
void config_free(void);

#endif
