/* The baselines of bench-start.sh: the least a libevent server on a Unix
 * socket does before it answers. It listens on SOCK and answers each line
 * with one line, until SIGTERM. Built as minimal-server-sqlite (with
 * MINIMAL_SQLITE, and linked with SQLite, which the plain one is not, as
 * loading it takes time), it first opens the SQLite file DB as a server
 * that keeps its state there would: write-ahead log, the quick check,
 * one read of its tables.
 *   minimal-server SOCK
 *   minimal-server-sqlite SOCK DB */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#ifdef MINIMAL_SQLITE
#include <sqlite3.h>

/* Opens DB and reads it; exits on a failure. */
static sqlite3 *
open_db(const char *path)
{
	sqlite3 *db;
	char *err = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
		    SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA quick_check;"
			     "SELECT count(*) FROM sqlite_master;",
			 NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", path, err ? err : sqlite3_errmsg(db));
		exit(1);
	}
	return db;
}
#endif

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;

	(void)arg;
	while ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF)) != NULL) {
		free(line);
		bufferevent_write(bev, "{\"result\":{}}\n", 14);
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
	  int len, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(
		evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);

	(void)sa, (void)len, (void)arg;
	bufferevent_setcb(bev, read_cb, NULL, event_cb, NULL);
	bufferevent_enable(bev, EV_READ);
}

static void
stop_cb(evutil_socket_t sig, short what, void *base)
{
	(void)sig, (void)what;
	event_base_loopexit(base, NULL);
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct event_base *base;
	struct evconnlistener *l;
	struct event *term;
#ifdef MINIMAL_SQLITE
	sqlite3 *db;

	if (argc != 3 || strlen(argv[1]) >= sizeof sun.sun_path) {
		fprintf(stderr, "usage: minimal-server-sqlite SOCK DB\n");
		return 2;
	}
	db = open_db(argv[2]);
#else
	if (argc != 2 || strlen(argv[1]) >= sizeof sun.sun_path) {
		fprintf(stderr, "usage: minimal-server SOCK\n");
		return 2;
	}
#endif
	signal(SIGPIPE, SIG_IGN);
	strcpy(sun.sun_path, argv[1]);
	base = event_base_new();
	l = evconnlistener_new_bind(base, accept_cb, NULL,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				    128, (struct sockaddr *)&sun, sizeof sun);
	if (l == NULL) {
		perror(argv[1]);
		return 1;
	}
	term = evsignal_new(base, SIGTERM, stop_cb, base);
	event_add(term, NULL);
	event_base_dispatch(base);
	event_free(term);
	evconnlistener_free(l);
	event_base_free(base);
#ifdef MINIMAL_SQLITE
	sqlite3_close(db);
#endif
	unlink(argv[1]);
	return 0;
}
