/* asyncd: options, signals, the event loop, and an orderly stop. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "activation.h"
#include "config.h"
#include "kinds/download/netproc.h"
#include "runtime.h"
#include "jobs.h"
#include "log.h"
#include "metrics-http.h"
#include "metrics.h"
#include "options.h"
#include "pool.h"
#include "rpc.h"
#include "sched.h"
#include "server.h"
#include "state-dir.h"
#include "kinds/fetch-user/user-cache.h"
#include "watch.h"

/* How long a stop may wait, past --stop-timeout, for jobs to end and
 * clients to read their last events. */
#define SHUTDOWN_GRACE_MS 2000

static struct event *shutdown_poll_ev;
static long long shutdown_started_ms;
static char *config_path; /* NULL: no configuration file */
static struct event *status_ev, *idle_ev;
static long long idle_since_ms;

static void
shutdown_poll_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	bool done = jobs_stopped() && server_flushed();

	if (done || now_mono_ms() - shutdown_started_ms >
			    (long long)daemon_opts.stop_timeout * 1000 +
				    SHUTDOWN_GRACE_MS) {
		if (!done)
			log_warnx("stopping with %u jobs unfinished",
				  jobs_unfinished());
		event_base_loopexit(daemon_base, NULL);
	}
}

static void
stop_signal_cb(evutil_socket_t sig, short what UNUSED, void *arg UNUSED)
{
	static const struct timeval tick = {0, 20000};

	if (jobs_shutting_down())
		return;
	log_notice("signal %d: stopping", (int)sig);
	activation_notify("STOPPING=1");
	server_stop_listening();
	jobs_shutdown();
	shutdown_started_ms = now_mono_ms();
	shutdown_poll_ev = event_new(daemon_base, -1, EV_PERSIST,
				     shutdown_poll_cb, NULL);
	event_add(shutdown_poll_ev, &tick);
}

/* Tells the service manager how many jobs there are, every few seconds. */
static void
status_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	unsigned counts[JOB_NSTATES];

	jobs_counts(counts);
	activation_notify("STATUS=%u queued, %u running", counts[JOB_QUEUED],
			  counts[JOB_RUNNING]);
}

/* --idle-exit: stops once there has been no connection and no unfinished
 * job for that many seconds. */
static void
idle_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	long long now = now_mono_ms();

	if (server_connections() > 0 || jobs_unfinished() > 0 ||
	    jobs_shutting_down() || idle_since_ms == 0) {
		idle_since_ms = now;
		return;
	}
	if (now - idle_since_ms < (long long)daemon_opts.idle_exit * 1000)
		return;
	log_notice("idle for %u s: exiting", daemon_opts.idle_exit);
	activation_notify("STOPPING=1");
	event_base_loopexit(daemon_base, NULL);
}

/* Runs the idle check while --idle-exit is set (SIGHUP may change it). */
static void
idle_arm(void)
{
	static const struct timeval tick = {0, 250000};

	if (daemon_opts.idle_exit == 0) {
		event_del(idle_ev);
		return;
	}
	if (!event_pending(idle_ev, EV_TIMEOUT, NULL)) {
		idle_since_ms = 0;
		event_add(idle_ev, &tick);
	}
}

static void
reload_signal_cb(evutil_socket_t sig, short what UNUSED, void *arg UNUSED)
{
	log_notice("signal %d: re-reading the configuration", (int)sig);
	activation_notify("RELOADING=1");
	config_reload(config_path);
	idle_arm();
	activation_notify("READY=1");
}

static void
apply_kind_limits(void)
{
	for (size_t i = 0; i < option_state.nkind_limits; i++) {
		const struct kind_limit *kl = &option_state.kind_limits[i];
		/* The option checked the kind. */
		if (kl->n != 0 && sched_set_max_running(kl->kind, kl->n) < 0)
			fatalx("--max-running: no job kind %s", kl->kind);
		if (kl->per_user != 0 &&
		    sched_set_max_running_per_user(kl->kind, kl->per_user) < 0)
			fatalx("--max-running-per-user: no job kind %s",
			       kl->kind);
	}
}

int
main(int argc, char **argv)
{
	struct event *sigterm, *sigint, *sighup;
	static const struct timeval status_period = {5, 0};
	bool config_must_exist;
	int listen_fd;
	char *state_dir;

	/* The file first, then the command line, which wins. */
	/* Streaming allocates and frees 64 KiB..1 MiB buffers all the time:
	 * keep them on the heap and do not hand memory back to the kernel
	 * after every burst (that cost more than the streaming itself). */
	mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TOP_PAD, 4 * 1024 * 1024);
	options_defaults();
	config_path = config_scan_argv(argc, argv, &config_must_exist);
	if (config_load(config_path, config_must_exist) < 0)
		return 1;
	options_parse_argv(argc, argv);
	log_set_level(option_state.log_level);
	log_set_target(option_state.log_target); /* checked when parsed */
	signal(SIGPIPE, SIG_IGN);
	/* Before any thread starts: it edits the environment. */
	listen_fd = activation_listen_fd();

	if (evthread_use_pthreads() < 0)
		fatalx("libevent has no pthreads support");
	log_route_libevent();
	daemon_base = event_base_new();
	if (daemon_base == NULL)
		fatalx("cannot create the event loop");
	netproc_init();
	state_dir = state_dir_resolve(daemon_opts.state_dir);
	if (state_dir != NULL && state_dir_open(state_dir) < 0)
		return 1;
	metrics_init();
	if (jobs_init(state_dir, daemon_opts.sync_full ? DB_SYNC_FULL
							: DB_SYNC_NORMAL) < 0)
		return 1;
	pool_init(daemon_opts.workers);
	apply_kind_limits();
	rpc_init();
	server_init(&(const struct server_handlers){
		.line = rpc_handle_line,
		.too_large = rpc_too_large,
		.closed = watch_conn_closed,
		.drained = watch_conn_drained,
	});

	if (daemon_opts.socket_path == NULL)
		daemon_opts.socket_path = proto_default_socket();
	if (daemon_opts.socket_mode < 0)
		daemon_opts.socket_mode = geteuid() == 0 ? 0666 : 0600;
	if (daemon_opts.metrics_listen != NULL &&
	    metrics_http_listen(daemon_opts.metrics_listen, rpc_metrics_text) < 0)
		return 1;
	if (listen_fd >= 0)
		server_listen_fd(listen_fd);
	else if (server_listen_path(daemon_opts.socket_path,
				    daemon_opts.socket_mode) < 0)
		return 1;

	sigterm = evsignal_new(daemon_base, SIGTERM, stop_signal_cb, NULL);
	sigint = evsignal_new(daemon_base, SIGINT, stop_signal_cb, NULL);
	sighup = evsignal_new(daemon_base, SIGHUP, reload_signal_cb, NULL);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_add(sighup, NULL);
	idle_ev = event_new(daemon_base, -1, EV_PERSIST, idle_cb, NULL);
	idle_arm();
	status_ev = event_new(daemon_base, -1, EV_PERSIST, status_cb, NULL);
	if (getenv("NOTIFY_SOCKET") != NULL)
		event_add(status_ev, &status_period);
	log_notice("asyncd %s started, pid %d", PACKAGE_VERSION, (int)getpid());
	activation_notify("READY=1");
	status_cb(-1, 0, NULL);

	event_base_dispatch(daemon_base);

	server_free();
	metrics_http_free();
	/* The jobs first: the kind of each job still running lets go of it
	 * (its free hook), so that no done function looks at a job again.
	 * Then the pool hands what is left to its owners, which free it,
	 * and the network process, with nothing left to do, is told to go. */
	jobs_free();
	metrics_free();
	pool_free();
	netproc_free();
	user_cache_free();
	rpc_free();
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	event_free(idle_ev);
	event_free(status_ev);
	free(config_path);
	config_free();
	if (shutdown_poll_ev != NULL)
		event_free(shutdown_poll_ev);
	event_base_free(daemon_base);
	free(daemon_opts.socket_path);
	free(daemon_opts.download_dir);
	free(daemon_opts.metrics_listen);
	free(daemon_opts.allowed_schemes);
	free(daemon_opts.state_dir);
	free(state_dir);
	free(option_state.config_file);
	libevent_global_shutdown();
	log_notice("stopped");
	return 0;
}
