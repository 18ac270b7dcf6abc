/* Helpers for the Check suites: a real asyncd on a temporary socket,
 * client connections (optionally as another uid), JSON look-ups, and
 * running programs with captured output. Failures ck_abort the test. */
#ifndef ASYNCD_TESTUTIL_H
#define ASYNCD_TESTUTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <check.h>
#include <json-c/json.h>

/* The uid tests drop to when they act as an unprivileged user. */
#define TEST_NOBODY 65534

/* A suite with cases that need root is built twice from its one source:
 * the plain program holds what any user can run, the _root program
 * (compiled with -DTEST_ROOT_PROGRAM=1) the cases that need root. */
#ifndef TEST_ROOT_PROGRAM
#define TEST_ROOT_PROGRAM 0
#endif

/* Unless running as root, prints "SKIP: needs root WHY" and exits 77,
 * which automake reports as SKIP, never as a pass. */
void test_require_root(const char *why);

/* How a daemon is started beyond its arguments and environment. */
struct td_how {
	bool as_uid;   /* run as UID (and its gid, no groups): needs root */
	uid_t uid;
	unsigned long nofile; /* its RLIMIT_NOFILE (soft); 0: ours */
};

struct tdaemon {
	pid_t pid;
	struct td_how how;
	char dir[64];   /* a private temporary directory, mode 0755 */
	char sock[128]; /* DIR/asyncd.sock */
	char log[128];  /* DIR/asyncd.log: the daemon's stderr */
	char state[128]; /* DIR/state: its state directory */
	const char *const *env; /* added to its environment */
};

/* Starts $ASYNCD --socket DIR/asyncd.sock --state-dir DIR/state plus
 * EXTRA (NULL-terminated, may be NULL) and waits until it answers
 * daemon.info. */
void td_start(struct tdaemon *d, const char *const extra[]);
/* The same with ENV ("K=V" strings, NULL-terminated, may be NULL) added
 * to the daemon's environment, for this start and every restart. */
void td_start_env(struct tdaemon *d, const char *const extra[],
		  const char *const env[]);
/* The same, started as HOW says (for this start and every restart). */
void td_start_how(struct tdaemon *d, const char *const extra[],
		  const char *const env[], const struct td_how *how);
/* Starts asyncd again in D's directory, on the same socket and state,
 * with EXTRA. */
void td_restart(struct tdaemon *d, const char *const extra[]);
/* Sends SIGTERM, waits; returns the exit status (or 128+signal). Removes
 * the directory. */
int td_stop(struct tdaemon *d);
/* Sends SIG (SIGKILL: a crash) and waits, keeping the directory for
 * td_restart(); returns the exit status (or 128+signal). */
int td_halt(struct tdaemon *d, int sig);
/* A TCP port of 127.0.0.1 that was free a moment ago. */
int td_free_port(void);
/* Milliseconds on the monotonic clock. */
long long td_mono_ms(void);
/* The path of the built program NAME ("daemon/asyncd"...). */
const char *td_path(const char *env, const char *fallback);

struct tconn;

/* The usual fixture: a daemon started with EXTRA and one connection to
 * it; tf_close() requires the daemon to stop cleanly (exit 0, which under
 * the sanitizers also means no leak). */
void tf_open(struct tdaemon *d, struct tconn **c, const char *const extra[]);
/* The same with ENV added to the daemon's environment (td_start_env). */
void tf_open_env(struct tdaemon *d, struct tconn **c, const char *const extra[],
                 const char *const env[]);
void tf_close(struct tdaemon *d, struct tconn **c);

/* A private user database for a daemon, through nss_wrapper (package
 * libnss-wrapper): no root needed and nothing on the host changes. */
struct tnss {
	char dir[64];     /* a private temporary directory */
	char passwd[128]; /* DIR/passwd */
	char group[128];  /* DIR/group */
	char env_passwd[160], env_group[160], env_asan[1024];
	const char *env[5]; /* for td_start_env() */
};

/* Writes PASSWD and GROUP (whole files, in their /etc formats) and fills
 * N->env with what makes a daemon use them. */
void tnss_init(struct tnss *n, const char *passwd, const char *group);
/* Replaces the file at PATH (N->passwd or N->group) with TEXT as the
 * shadow tools do (a new file renamed over it), with a modification time
 * one second past the old one's so that the change is always visible. */
void tnss_replace(const char *path, const char *text);
/* Rewrites the file at PATH in place (truncated, written, the same
 * inode), its modification time one second on, as an editor that does
 * not rename would. */
void tnss_write_in_place(const char *path, const char *text);
/* Removes the directory. */
void tnss_free(struct tnss *n);

/* The test HTTP server (tests/httpd/testhttpd, or $TESTHTTPD) on a free
 * port of 127.0.0.1, logging to DIR/httpd.log. */
struct thttpd {
	pid_t pid;
	char dir[64];  /* a private temporary directory */
	char base[64]; /* http://127.0.0.1:PORT */
};

void th_start(struct thttpd *h);
/* Stops the server and removes its directory. */
void th_stop(struct thttpd *h);

struct tconn *tc_open(const char *sock);
/* Connects with effective uid UID (and gid GID), as that user would;
 * needs root, so only _root programs call it. */
struct tconn *tc_open_as(const char *sock, uid_t uid, gid_t gid);
/* The same, NULL when the connect fails. */
struct tconn *tc_try_open_as(const char *sock, uid_t uid, gid_t gid);
void tc_close(struct tconn *c);
/* Its socket, for tests that read or write around the helpers. */
int tc_fd(struct tconn *c);
/* Ends what this side sends (shutdown SHUT_WR). */
void tc_shutdown_write(struct tconn *c);
/* Sends LEN bytes of LINE as they are. */
void tc_send_raw(struct tconn *c, const char *line, size_t len);
void tc_send(struct tconn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The next line received, parsed (a non-JSON line fails the test);
 * NULL on timeout or EOF. */
struct json_object *tc_recv(struct tconn *c, int timeout_ms);
/* True when the daemon closed the connection within TIMEOUT_MS. */
bool tc_eof(struct tconn *c, int timeout_ms);
/* Sends METHOD with PARAMS_JSON (NULL: none) under a fresh id and returns
 * its response; notifications that arrive first are queued for
 * tc_event(). */
struct json_object *tc_call(struct tconn *c, const char *method,
			    const char *params_fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The next notification (queued ones first); NULL on timeout. */
struct json_object *tc_event(struct tconn *c, int timeout_ms);
/* Reads events until job ID's job.completed or job.failed and returns
 * that event; events of other jobs stay queued; fails after TIMEOUT_MS. */
struct json_object *tc_wait_end(struct tconn *c, int64_t id, int timeout_ms);
/* Submits a job: returns the new job's id (fails the test on an error). */
int64_t tc_submit(struct tconn *c, const char *params_fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* JSON look-ups by dotted path ("result.job.state", "params.data"); an
 * array element is a number ("result.jobs.0.id"). */
struct json_object *jget(struct json_object *obj, const char *path);
int64_t jint(struct json_object *obj, const char *path);
const char *jstr(struct json_object *obj, const char *path);
bool jnull(struct json_object *obj, const char *path);
/* Asserts that RESPONSE is an error with CODE (and field FIELD if not
 * NULL). */
void assert_rpc_error(struct json_object *response, int code,
		      const char *field);

struct run_result {
	int status; /* exit status, or 128+signal */
	char *out;
	size_t out_len;
	char *err;
	size_t err_len;
};

/* Runs ARGV (NULL-terminated) with STDIN_DATA (NULL: /dev/null) and env
 * var ENV_SET ("K=V" or NULL) added, as uid UID (-1: ours). */
void run_program(char *const argv[], const char *stdin_data,
		 const char *env_set, int uid, struct run_result *r);
void run_result_free(struct run_result *r);
/* Runs $ASYNCCTL --socket SOCK and the arguments in AP up to a NULL, with
 * STDIN_DATA and ENV_SET as run_program() takes them. */
void tctl_vrun(struct run_result *r, const char *sock, const char *stdin_data,
	       const char *env_set, va_list ap);

/* Writes LEN bytes of DATA to PATH, failing the test on error. */
void write_file(const char *path, const void *data, size_t len, int mode);
/* Reads the whole file; NULL if it cannot be read. */
char *read_file(const char *path, size_t *len);

/* Runs a Check suite with the usual runner and returns main's status. */
int run_suite(Suite *s);
/* main() of a program built twice (TEST_ROOT_PROGRAM): the _root one
 * runs ROOT after test_require_root(WHY), the plain one PLAIN. Inline:
 * the macro is the program's, not the library's. */
static inline int
run_suite_split(Suite *(*plain)(void), Suite *(*root)(void), const char *why)
{
	if (!TEST_ROOT_PROGRAM)
		return run_suite(plain());
	test_require_root(why);
	return run_suite(root());
}

#endif
