/* asyncd: options, signals, the event loop, and an orderly stop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "daemon.h"
#include "jobs.h"
#include "log.h"
#include "options.h"
#include "rpc.h"
#include "server.h"

/* How long a stop may wait for jobs to end and clients to read their
 * last events. */
#define SHUTDOWN_GRACE_MS 8000

static struct event *shutdown_poll_ev;
static long long shutdown_started_ms;

static void
shutdown_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	bool done = jobs_unfinished() == 0 && server_flushed();

	if (done || now_mono_ms() - shutdown_started_ms > SHUTDOWN_GRACE_MS) {
		if (!done)
			log_warnx("stopping with %u jobs unfinished",
				  jobs_unfinished());
		event_base_loopexit(daemon_base, NULL);
	}
}

static void
stop_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	static const struct timeval tick = {0, 20000};

	if (jobs_shutting_down())
		return;
	log_notice("signal %d: stopping", (int)sig);
	server_stop_listening();
	jobs_shutdown();
	shutdown_started_ms = now_mono_ms();
	shutdown_poll_ev = event_new(daemon_base, -1, EV_PERSIST,
				     shutdown_poll_cb, NULL);
	event_add(shutdown_poll_ev, &tick);
}

static void
apply_kind_limits(void)
{
	for (size_t i = 0; i < option_state.nkind_limits; i++) {
		const struct kind_limit *kl = &option_state.kind_limits[i];
		if (jobs_set_max_running(kl->kind, kl->n) < 0)
			fatalx("--max-running: no job kind %s", kl->kind);
	}
}

int
main(int argc, char **argv)
{
	struct event *sigterm, *sigint;

	options_defaults();
	options_parse_argv(argc, argv);
	log_set_level(option_state.log_level);
	signal(SIGPIPE, SIG_IGN);

	if (evthread_use_pthreads() < 0)
		fatalx("libevent has no pthreads support");
	log_route_libevent();
	daemon_base = event_base_new();
	if (daemon_base == NULL)
		fatalx("cannot create the event loop");
	jobs_init();
	apply_kind_limits();
	rpc_init();

	if (daemon_opts.socket_path == NULL)
		daemon_opts.socket_path = proto_default_socket();
	if (daemon_opts.socket_mode < 0)
		daemon_opts.socket_mode = geteuid() == 0 ? 0666 : 0600;
	if (server_listen_path(daemon_opts.socket_path,
			       daemon_opts.socket_mode) < 0)
		return 1;

	sigterm = evsignal_new(daemon_base, SIGTERM, stop_signal_cb, NULL);
	sigint = evsignal_new(daemon_base, SIGINT, stop_signal_cb, NULL);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	log_notice("asyncd %s started, pid %d", PACKAGE_VERSION, (int)getpid());

	event_base_dispatch(daemon_base);

	server_free();
	jobs_free();
	rpc_free();
	event_free(sigterm);
	event_free(sigint);
	if (shutdown_poll_ev != NULL)
		event_free(shutdown_poll_ev);
	event_base_free(daemon_base);
	free(daemon_opts.socket_path);
	free(daemon_opts.download_dir);
	free(daemon_opts.allowed_schemes);
	free(option_state.config_file);
	libevent_global_shutdown();
	log_notice("stopped");
	return 0;
}
