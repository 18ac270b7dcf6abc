/* The state database on SQLite: schema and migrations, the start-up
 * checks, and one prepared statement per query, prepared on first use. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "db.h"
#include "kinds.h"
#include "log.h"
#include "xmalloc.h"

/* "asyd": PRAGMA application_id tells our file from any other SQLite
 * database that happens to sit at the path. */
#define DB_APPLICATION_ID 0x61737964

#define JOB_COLUMNS                                                         \
	"id, owner, gid, kind, state, label, key, args, after, created_ms, " \
	"started_ms, finished_ms, timeout_ms, result, error, seq, attempts, " \
	"requeue, resume, started_seq, queue, priority, paused, "           \
	"not_before_ms, retry_max, retry_delay_ms, retry_backoff, retries, " \
	"retry_at_ms, after_any, restarted_from"

/* Migrations: entry N takes schema N to N+1; entry 0 creates it. A new
 * schema appends an entry and never edits an old one (so they name their
 * columns, never JOB_COLUMNS, which follows the newest schema). */
static const char *const migrations[] = {
	"CREATE TABLE meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
	"  WITHOUT ROWID;"
	"CREATE TABLE jobs("
	"  id INTEGER PRIMARY KEY,"
	"  owner INTEGER NOT NULL,"
	"  gid INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  state INTEGER NOT NULL,"
	"  label TEXT,"
	"  key TEXT UNIQUE,"
	"  args TEXT NOT NULL,"
	"  after TEXT,"
	"  created_ms INTEGER NOT NULL,"
	"  started_ms INTEGER NOT NULL,"
	"  finished_ms INTEGER NOT NULL,"
	"  timeout_ms INTEGER NOT NULL,"
	"  result TEXT,"
	"  error TEXT,"
	"  seq INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL,"
	"  requeue INTEGER NOT NULL,"
	"  resume TEXT);"
	"CREATE INDEX jobs_owner ON jobs(owner, id);"
	"CREATE INDEX jobs_unfinished ON jobs(id) WHERE state < 2;"
	"CREATE INDEX jobs_finished ON jobs(finished_ms, id) WHERE state >= 2;",
	/* 2: the seq of a job's job.started, for replays (job.watch since). */
	"ALTER TABLE jobs ADD COLUMN started_seq INTEGER NOT NULL DEFAULT 0;",
	/* 3: every index costs each job an insert and a delete, so
	 * no index on owner (no query can use it), none of unfinished jobs
	 * (only the start looks for them, in one pass over the table), and
	 * no index rows for jobs without a key (the table is rebuilt: a
	 * column's UNIQUE cannot be dropped); the finished counts are kept
	 * in meta, so that a start need not count every row. */
	"CREATE TABLE jobs2("
	"  id INTEGER PRIMARY KEY,"
	"  owner INTEGER NOT NULL,"
	"  gid INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  state INTEGER NOT NULL,"
	"  label TEXT,"
	"  key TEXT,"
	"  args TEXT NOT NULL,"
	"  after TEXT,"
	"  created_ms INTEGER NOT NULL,"
	"  started_ms INTEGER NOT NULL,"
	"  finished_ms INTEGER NOT NULL,"
	"  timeout_ms INTEGER NOT NULL,"
	"  result TEXT,"
	"  error TEXT,"
	"  seq INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL,"
	"  requeue INTEGER NOT NULL,"
	"  resume TEXT,"
	"  started_seq INTEGER NOT NULL DEFAULT 0);"
	"INSERT INTO jobs2 SELECT id, owner, gid, kind, state, label, key,"
	"  args, after, created_ms, started_ms, finished_ms, timeout_ms,"
	"  result, error, seq, attempts, requeue, resume, started_seq"
	"  FROM jobs;"
	"DROP TABLE jobs;"
	"ALTER TABLE jobs2 RENAME TO jobs;"
	"CREATE UNIQUE INDEX jobs_key ON jobs(key) WHERE key IS NOT NULL;"
	"CREATE INDEX jobs_finished ON jobs(finished_ms, id) WHERE state >= 2;"
	"INSERT OR REPLACE INTO meta(name, value)"
	"  SELECT 'completed', count(*) FROM jobs WHERE state = 2;"
	"INSERT OR REPLACE INTO meta(name, value)"
	"  SELECT 'failed', count(*) FROM jobs WHERE state = 3;",
	/* 4: job control: named queues and their settings, priority,
	 * pause, delayed start, retries, after_any, restarts. */
	"ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';"
	"ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN not_before_ms INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN retry_max INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN retry_delay_ms INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN retry_backoff REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN retry_at_ms INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE jobs ADD COLUMN after_any TEXT;"
	"ALTER TABLE jobs ADD COLUMN restarted_from INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE queues("
	"  owner INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  max_running INTEGER NOT NULL,"
	"  paused INTEGER NOT NULL,"
	"  PRIMARY KEY(owner, name)) WITHOUT ROWID;",
	/* 5: job.list seeks by kind and by owner (a user's own jobs)
	 * instead of walking every row. Neither column ever changes, so
	 * each index costs a job one insert and one delete in its life. */
	("CREATE INDEX jobs_kind ON jobs(kind, id);"
	 "CREATE INDEX jobs_owner ON jobs(owner, id);"),
};

#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])
_Static_assert(NMIGRATIONS == DB_SCHEMA_VERSION,
	       "one migration per schema version");

enum {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_PUT,
	Q_LOAD,
	Q_KEY,
	Q_UNFINISHED,
	Q_FORGET,
	Q_LAST_ID,
	Q_META_SET,
	Q_COUNT,
	Q_LIST_ALL,
	Q_LIST_KIND,
	Q_LIST_OWNER,
	Q_DELETE,
	Q_QUEUE_PUT,
	Q_QUEUE_DELETE,
	Q_QUEUES,
	NQUERIES
};

/* Whether a row matches job.list's filters (struct db_filter). */
#define LIST_MATCH                                                        \
	"((?2 < 0 OR owner = ?2) AND (?3 < 0 OR state = ?3)"              \
	" AND (?4 IS NULL OR kind = ?4) AND (?6 IS NULL OR queue = ?6)"   \
	" AND (?7 = 0 OR (state >= 2 AND finished_ms < ?7)))"

static const char *const query_sql[NQUERIES] = {
	[Q_BEGIN] = "BEGIN",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_PUT] = "INSERT INTO jobs(" JOB_COLUMNS ") VALUES "
		  "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
		  " ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26,"
		  " ?27, ?28, ?29, ?30, ?31) "
		  "ON CONFLICT(id) DO UPDATE SET state = ?5, started_ms = ?11,"
		  " finished_ms = ?12, result = ?14, error = ?15, seq = ?16,"
		  " attempts = ?17, resume = ?19, started_seq = ?20,"
		  " priority = ?22, paused = ?23, retries = ?28,"
		  " retry_at_ms = ?29",
	[Q_LOAD] = "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?1",
	[Q_KEY] = "SELECT id FROM jobs WHERE key = ?1",
	[Q_UNFINISHED] = "SELECT " JOB_COLUMNS " FROM jobs WHERE state < 2 "
			 "ORDER BY id",
	[Q_FORGET] = "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs "
		     "WHERE state >= 2 ORDER BY finished_ms, id LIMIT ?1) "
		     "RETURNING id, state",
	/* The larger of the meta value and the rows' highest id: a crash
	 * may come between a row and the meta value of its transaction only
	 * if SQLite lost atomicity, but the rows are the truth that must
	 * never be reused. */
	[Q_LAST_ID] = "SELECT max(coalesce((SELECT value FROM meta"
		      " WHERE name = 'last_id'), 0),"
		      " coalesce((SELECT max(id) FROM jobs), 0))",
	[Q_META_SET] = "INSERT INTO meta(name, value) VALUES (?1, ?2) "
		       "ON CONFLICT(name) DO UPDATE SET value = ?2",
	[Q_COUNT] = "SELECT name, value FROM meta"
		    " WHERE name IN ('completed', 'failed')",
	/* job.list: each row below ?1 on one access path, newest first,
	 * with whether it matches the filters; ?5 bounds the rows. */
	[Q_LIST_ALL] = "SELECT id, " LIST_MATCH " FROM jobs WHERE id < ?1"
		       " ORDER BY id DESC LIMIT ?5",
	[Q_LIST_KIND] = "SELECT id, " LIST_MATCH " FROM jobs INDEXED BY"
			" jobs_kind WHERE kind = ?4 AND id < ?1"
			" ORDER BY id DESC LIMIT ?5",
	[Q_LIST_OWNER] = "SELECT id, " LIST_MATCH " FROM jobs INDEXED BY"
			 " jobs_owner WHERE owner = ?2 AND id < ?1"
			 " ORDER BY id DESC LIMIT ?5",
	[Q_DELETE] = "DELETE FROM jobs WHERE id = ?1 AND state >= 2"
		     " RETURNING state",
	[Q_QUEUE_PUT] = "INSERT INTO queues(owner, name, max_running, paused)"
			" VALUES (?1, ?2, ?3, ?4) ON CONFLICT(owner, name)"
			" DO UPDATE SET max_running = ?3, paused = ?4",
	[Q_QUEUE_DELETE] = "DELETE FROM queues WHERE owner = ?1 AND name = ?2",
	[Q_QUEUES] = "SELECT owner, name, max_running, paused FROM queues",
};

static sqlite3 *db;
static sqlite3_stmt *queries[NQUERIES];
static char *path;
static char last_error[256];

const char *
db_path(void)
{
	return path;
}

const char *
db_last_error(void)
{
	return last_error;
}

/* Notes the connection's error for the caller and returns -1. */
static int
db_fail(const char *what)
{
	snprintf(last_error, sizeof last_error, "%s: %s", what,
		 db != NULL ? sqlite3_errmsg(db) : "no database");
	return -1;
}

static int
exec(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(last_error, sizeof last_error, "%s",
			 msg != NULL ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* PRAGMA quick_check: true when the file is sound. */
static bool
quick_check_ok(void)
{
	sqlite3_stmt *st;
	bool ok = false;

	if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL) !=
	    SQLITE_OK)
		return false;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *r = sqlite3_column_text(st, 0);
		ok = r != NULL && strcmp((const char *)r, "ok") == 0;
	}
	sqlite3_finalize(st);
	return ok;
}

#define STRINGIFY(x) #x
#define STRING(x) STRINGIFY(x)

/* Brings the schema from VERSION to DB_SCHEMA_VERSION in one transaction.
 * (PRAGMAs take no bound values: the numbers are constants here.) */
static int
migrate(long long version)
{
	if (exec("BEGIN IMMEDIATE") < 0)
		return -1;
	for (long long v = version; v < DB_SCHEMA_VERSION; v++)
		if (exec(migrations[v]) < 0)
			goto fail;
	if (exec("PRAGMA user_version = " STRING(DB_SCHEMA_VERSION)) < 0 ||
	    exec("PRAGMA application_id = " STRING(DB_APPLICATION_ID)) < 0 ||
	    exec("COMMIT") < 0)
		goto fail;
	if (version > 0)
		log_notice("%s: schema upgraded from version %lld to %d", path,
			   version, DB_SCHEMA_VERSION);
	return 0;
fail:
	exec("ROLLBACK");
	return -1;
}

/* Reads the file's application id, schema version and number of schema
 * objects in one statement (one read of the schema, one transaction).
 * Returns 0, or -1 when the file cannot be read as a database. */
static int
read_identity(long long *app, long long *version, long long *tables)
{
	sqlite3_stmt *st;
	int rc = -1;

	if (sqlite3_prepare_v2(db,
			       "SELECT a.application_id, v.user_version,"
			       " (SELECT count(*) FROM sqlite_master)"
			       " FROM pragma_application_id AS a,"
			       " pragma_user_version AS v",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*app = sqlite3_column_int64(st, 0);
		*version = sqlite3_column_int64(st, 1);
		*tables = sqlite3_column_int64(st, 2);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Refuses what is not ours to open; upgrades an older schema. */
static int
check_and_migrate(void)
{
	long long app, version, tables;

	if (read_identity(&app, &version, &tables) < 0) {
		log_warnx("%s: not a readable SQLite database (%s); move it "
			  "away or give another --state-dir",
			  path, sqlite3_errmsg(db));
		return -1;
	}
	if (tables > 0 && app != DB_APPLICATION_ID) {
		log_warnx("%s: an SQLite database of another program; move it "
			  "away or give another --state-dir", path);
		return -1;
	}
	if (version > DB_SCHEMA_VERSION) {
		log_warnx("%s: written by a newer asyncd (schema %lld, this one "
			  "knows %d); run that version or a newer one",
			  path, version, DB_SCHEMA_VERSION);
		return -1;
	}
	if (tables > 0 && !quick_check_ok()) {
		log_warnx("%s: the database fails its integrity check; restore "
			  "it from a backup or move it away (asyncd never "
			  "deletes it)", path);
		return -1;
	}
	if (version < DB_SCHEMA_VERSION && migrate(version) < 0) {
		log_warnx("%s: cannot set up schema %d: %s", path,
			  DB_SCHEMA_VERSION, last_error);
		return -1;
	}
	return 0;
}

/* Query Q's statement, prepared on its first use: a start then parses
 * only the few statements it reads with, not the writes and the
 * requests' queries, which may not come for a while. NULL, with the
 * reason in db_last_error(), when it cannot be prepared; the callers
 * take that as they take a failed step. */
static sqlite3_stmt *
query(int q)
{
	if (queries[q] == NULL &&
	    sqlite3_prepare_v3(db, query_sql[q], -1, SQLITE_PREPARE_PERSISTENT,
			       &queries[q], NULL) != SQLITE_OK) {
		db_fail(query_sql[q]);
		log_warnx("%s: %s", path, last_error);
		return NULL;
	}
	return queries[q];
}

/* The statements a start reads the database with: prepared at open, so
 * that a failure stops the start rather than leaving jobs behind. */
static const int start_queries[] = {Q_LAST_ID, Q_COUNT, Q_QUEUES,
				    Q_UNFINISHED};

int
db_prepare_all(void)
{
	for (int i = 0; i < NQUERIES; i++)
		if (query(i) == NULL)
			return -1;
	return 0;
}

int
db_open(const char *dir, enum db_sync sync)
{
	int fd;

	if (asprintf(&path, "%s/asyncd.db", dir) < 0)
		fatal("asprintf");
	/* Made 0600 here: SQLite would create it with the umask's mode. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_warn("%s", path);
		goto fail;
	}
	close(fd);
	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
				    SQLITE_OPEN_EXRESCODE,
			    NULL) != SQLITE_OK) {
		log_warnx("%s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
		goto fail;
	}
	sqlite3_busy_timeout(db, 0);
	/* The WAL file stays when the daemon stops (cut to nothing): making
	 * it again at every start took a new inode, which ext4 finds slowly
	 * where files were just deleted. */
	sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL,
			     &(int){1});
	/* Only this daemon opens the file (it holds the state directory's
	 * lock), so it keeps it locked from the first read to the close:
	 * the WAL index is then in its memory, not in a -shm file made and
	 * sized at every start, and no transaction takes the shared-memory
	 * locks (a fifth of the start's database time). Another program can
	 * read the file only while asyncd is stopped. */
	if (exec("PRAGMA locking_mode = EXCLUSIVE") < 0) {
		log_warnx("%s: %s", path, last_error);
		goto fail;
	}
	if (check_and_migrate() < 0)
		goto fail;
	if (exec("PRAGMA journal_mode = WAL") < 0 ||
	    exec(sync == DB_SYNC_FULL ? "PRAGMA synchronous = FULL"
				      : "PRAGMA synchronous = NORMAL") < 0 ||
	    exec("PRAGMA journal_size_limit = 67108864") < 0 ||
	    exec("PRAGMA foreign_keys = OFF") < 0) {
		log_warnx("%s: %s", path, last_error);
		goto fail;
	}
	for (size_t i = 0; i < sizeof start_queries / sizeof *start_queries; i++)
		if (query(start_queries[i]) == NULL)
			goto fail;
	return 0;
fail:
	db_close();
	return -1;
}

void
db_close(void)
{
	for (int i = 0; i < NQUERIES; i++) {
		sqlite3_finalize(queries[i]);
		queries[i] = NULL;
	}
	sqlite3_close(db);
	db = NULL;
	free(path);
	path = NULL;
}

long long
db_bytes(void)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	long long total = 0;
	char name[4096];
	struct stat st;

	for (size_t i = 0; i < 3; i++) {
		snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
		if (stat(name, &st) == 0)
			total += st.st_size;
	}
	return total;
}

/* Runs a statement that returns no row; resets it either way. */
static int
step_done(int q, const char *what)
{
	sqlite3_stmt *st = query(q);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : db_fail(what);
}

int
db_begin(void)
{
	return step_done(Q_BEGIN, "begin");
}

int
db_commit(void)
{
	return step_done(Q_COMMIT, "commit");
}

void
db_rollback(void)
{
	if (!sqlite3_get_autocommit(db))
		step_done(Q_ROLLBACK, "rollback");
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* "[1,2,3]", or NULL for no ids; the caller frees. */
static char *
ids_text(const uint64_t *ids, unsigned n)
{
	size_t size = 2 + (size_t)n * 21, len = 1;
	char *s;

	if (n == 0)
		return NULL;
	s = xmalloc(size);
	s[0] = '[';
	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, size - len, "%s%llu",
					i > 0 ? "," : "",
					(unsigned long long)ids[i]);
	snprintf(s + len, size - len, "]");
	return s;
}

int
db_put_job(const struct job *job)
{
	sqlite3_stmt *st = query(Q_PUT);
	char *after, *after_any;
	int rc;

	if (st == NULL)
		return -1;
	after = ids_text(job->after, job->nafter);
	after_any = ids_text(job->after_any, job->nafter_any);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)job->id);
	sqlite3_bind_int64(st, 2, job->owner.uid);
	sqlite3_bind_int64(st, 3, job->owner.gid);
	bind_text(st, 4, job->kind->name);
	sqlite3_bind_int(st, 5, (int)job->state);
	bind_text(st, 6, job->label);
	bind_text(st, 7, job->key);
	bind_text(st, 8, job->args);
	bind_text(st, 9, after);
	sqlite3_bind_int64(st, 10, job->created_ms);
	sqlite3_bind_int64(st, 11, job->started_ms);
	sqlite3_bind_int64(st, 12, job->finished_ms);
	sqlite3_bind_int64(st, 13, job->timeout_ms);
	bind_text(st, 14, job->result);
	bind_text(st, 15, job->error);
	/* An unfinished job's row holds the ceiling of its seq (jobs.c). */
	sqlite3_bind_int64(st, 16, job->state >= JOB_COMPLETED ||
					   job->seq > job->seq_ceiling
				       ? job->seq
				       : job->seq_ceiling);
	sqlite3_bind_int(st, 17, (int)job->attempts);
	sqlite3_bind_int(st, 18, job->requeue);
	bind_text(st, 19, job->resume);
	sqlite3_bind_int64(st, 20, job->started_seq);
	bind_text(st, 21, job->queue);
	sqlite3_bind_int(st, 22, job->priority);
	sqlite3_bind_int(st, 23, job->paused);
	sqlite3_bind_int64(st, 24, job->not_before_ms);
	sqlite3_bind_int(st, 25, (int)job->retry.max);
	sqlite3_bind_int64(st, 26, job->retry.delay_ms);
	sqlite3_bind_double(st, 27, job->retry.backoff);
	sqlite3_bind_int(st, 28, (int)job->retries);
	sqlite3_bind_int64(st, 29, job->retry_at_ms);
	bind_text(st, 30, after_any);
	sqlite3_bind_int64(st, 31, (sqlite3_int64)job->restarted_from);
	rc = step_done(Q_PUT, "write job");
	free(after);
	free(after_any);
	return rc;
}

int
db_forget_oldest(unsigned n,
		 void (*fn)(uint64_t id, enum job_state state, void *arg),
		 void *arg)
{
	sqlite3_stmt *st = query(Q_FORGET);
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, n);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn((uint64_t)sqlite3_column_int64(st, 0),
		   (enum job_state)sqlite3_column_int(st, 1), arg);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail("forget finished jobs");
}

int
db_set_last_id(uint64_t id)
{
	sqlite3_stmt *st = query(Q_META_SET);

	if (st == NULL)
		return -1;
	bind_text(st, 1, "last_id");
	sqlite3_bind_int64(st, 2, (sqlite3_int64)id);
	return step_done(Q_META_SET, "write last id");
}

uint64_t
db_last_id(void)
{
	sqlite3_stmt *st = query(Q_LAST_ID);
	uint64_t id = 0;

	if (st == NULL)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		id = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return id;
}

void
db_count(unsigned counts[JOB_NSTATES])
{
	sqlite3_stmt *st = query(Q_COUNT);

	memset(counts, 0, sizeof(unsigned) * JOB_NSTATES);
	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		int state = strcmp(name, "completed") == 0 ? JOB_COMPLETED
							   : JOB_FAILED;
		counts[state] = (unsigned)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
}

int
db_set_count(enum job_state state, unsigned n)
{
	sqlite3_stmt *st = query(Q_META_SET);

	if (st == NULL)
		return -1;
	bind_text(st, 1, state == JOB_COMPLETED ? "completed" : "failed");
	sqlite3_bind_int64(st, 2, n);
	return step_done(Q_META_SET, "write finished count");
}

static char *
column_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s != NULL ? xstrdup((const char *)s) : NULL;
}

/* Reads "[1,2]" into JOB's after list. */
static void
parse_ids(const char *text, uint64_t **ids, unsigned *count)
{
	struct json_object *a = text ? json_tokener_parse(text) : NULL;
	size_t n = json_object_is_type(a, json_type_array)
			   ? json_object_array_length(a)
			   : 0;

	if (n > 0) {
		*ids = xreallocarray(NULL, n, sizeof **ids);
		for (size_t i = 0; i < n; i++)
			(*ids)[i] = (uint64_t)json_object_get_int64(
				json_object_array_get_idx(a, i));
		*count = (unsigned)n;
	}
	json_object_put(a);
}

/* A struct job from the current row of ST, or NULL for a row whose kind
 * this build does not have (logged). */
static struct job *
job_from_row(sqlite3_stmt *st)
{
	const char *kind = (const char *)sqlite3_column_text(st, 3);
	struct job *job;

	job = xcalloc(1, sizeof *job);
	job->kind = kinds_find(kind != NULL ? kind : "");
	job->id = (uint64_t)sqlite3_column_int64(st, 0);
	if (job->kind == NULL) {
		log_warnx("%s: job %llu has unknown kind %s; skipped", path,
			  (unsigned long long)job->id, kind ? kind : "(null)");
		free(job);
		return NULL;
	}
	job->owner.uid = (uid_t)sqlite3_column_int64(st, 1);
	job->owner.gid = (gid_t)sqlite3_column_int64(st, 2);
	job->state = (enum job_state)sqlite3_column_int(st, 4);
	job->label = column_strdup(st, 5);
	job->key = column_strdup(st, 6);
	job->args = column_strdup(st, 7);
	if (job->args == NULL)
		job->args = xstrdup("{}");
	parse_ids((const char *)sqlite3_column_text(st, 8), &job->after,
		  &job->nafter);
	job->created_ms = sqlite3_column_int64(st, 9);
	job->started_ms = sqlite3_column_int64(st, 10);
	job->finished_ms = sqlite3_column_int64(st, 11);
	job->timeout_ms = sqlite3_column_int64(st, 12);
	job->result = column_strdup(st, 13);
	job->error = column_strdup(st, 14);
	job->seq = job->seq_ceiling = (uint32_t)sqlite3_column_int64(st, 15);
	job->attempts = (unsigned)sqlite3_column_int(st, 16);
	job->requeue = sqlite3_column_int(st, 17) != 0;
	job->resume = column_strdup(st, 18);
	job->started_seq = (uint32_t)sqlite3_column_int64(st, 19);
	job->queue = column_strdup(st, 20);
	if (job->queue == NULL)
		job->queue = xstrdup("default");
	job->priority = sqlite3_column_int(st, 21);
	job->paused = sqlite3_column_int(st, 22) != 0;
	job->not_before_ms = sqlite3_column_int64(st, 23);
	job->retry.max = (unsigned)sqlite3_column_int(st, 24);
	job->retry.delay_ms = sqlite3_column_int64(st, 25);
	job->retry.backoff = sqlite3_column_double(st, 26);
	job->retries = (unsigned)sqlite3_column_int(st, 27);
	job->retry_at_ms = sqlite3_column_int64(st, 28);
	parse_ids((const char *)sqlite3_column_text(st, 29), &job->after_any,
		  &job->nafter_any);
	job->restarted_from = (uint64_t)sqlite3_column_int64(st, 30);
	TAILQ_INIT(&job->watches);
	return job;
}

struct job *
db_load(uint64_t id)
{
	sqlite3_stmt *st = query(Q_LOAD);
	struct job *job = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	if (sqlite3_step(st) == SQLITE_ROW)
		job = job_from_row(st);
	sqlite3_reset(st);
	return job;
}

uint64_t
db_find_key(const char *key)
{
	sqlite3_stmt *st = query(Q_KEY);
	uint64_t id = 0;

	if (st == NULL)
		return 0;
	bind_text(st, 1, key);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return id;
}

void
db_each_unfinished(void (*fn)(struct job *job))
{
	sqlite3_stmt *st = query(Q_UNFINISHED);
	struct job *job;

	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW)
		if ((job = job_from_row(st)) != NULL)
			fn(job);
	sqlite3_reset(st);
}

/* The statement that walks the fewest rows for F: a kind's index, the
 * owner's, or the whole table. */
static int
list_query(const struct db_filter *f)
{
	if (f->kind != NULL)
		return Q_LIST_KIND;
	return f->owner >= 0 ? Q_LIST_OWNER : Q_LIST_ALL;
}

static void
list_bind(sqlite3_stmt *st, const struct db_filter *f, unsigned rows)
{
	sqlite3_bind_int64(st, 1, f->before_id ? (sqlite3_int64)f->before_id
					       : INT64_MAX);
	sqlite3_bind_int64(st, 2, f->owner);
	sqlite3_bind_int(st, 3, f->state);
	bind_text(st, 4, f->kind);
	sqlite3_bind_int64(st, 5, rows);
	bind_text(st, 6, f->queue);
	sqlite3_bind_int64(st, 7, f->finished_before_ms);
}

unsigned
db_list(const struct db_filter *f, unsigned limit, struct db_list_bound *b,
	uint64_t *ids)
{
	sqlite3_stmt *st = query(list_query(f));
	unsigned n = 0, cost = 0;
	uint64_t id = 0;
	int rc = SQLITE_ROW;

	b->next_before = 0;
	if (st == NULL)
		return 0;
	list_bind(st, f, b->budget + limit);
	while (n < limit && cost < b->budget &&
	       (rc = sqlite3_step(st)) == SQLITE_ROW) {
		id = (uint64_t)sqlite3_column_int64(st, 0);
		if (sqlite3_column_int(st, 1))
			ids[n++] = id;
		else
			cost++;
	}
	if (n < limit && rc == SQLITE_ROW)
		b->next_before = id; /* the budget ran out first */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n;
}

char *
db_list_plan(const struct db_filter *f)
{
	sqlite3_stmt *st;
	char *sql, *plan = xstrdup("");

	if (asprintf(&sql, "EXPLAIN QUERY PLAN %s",
		     query_sql[list_query(f)]) < 0)
		fatal("asprintf");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		list_bind(st, f, 1);
		while (sqlite3_step(st) == SQLITE_ROW) {
			char *more;
			if (asprintf(&more, "%s%s\n", plan,
				     (const char *)sqlite3_column_text(st, 3)) < 0)
				fatal("asprintf");
			free(plan);
			plan = more;
		}
		sqlite3_finalize(st);
	}
	free(sql);
	return plan;
}

int
db_delete_finished(uint64_t id, enum job_state *state)
{
	sqlite3_stmt *st = query(Q_DELETE);
	int rc;

	*state = JOB_QUEUED; /* until a finished row is found */
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*state = (enum job_state)sqlite3_column_int(st, 0);
		rc = sqlite3_step(st);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail("remove a job");
}

int
db_put_queue(uid_t owner, const char *name, unsigned max_running,
	     bool paused)
{
	sqlite3_stmt *st;

	if (max_running == 0 && !paused) {
		if ((st = query(Q_QUEUE_DELETE)) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, owner);
		bind_text(st, 2, name);
		return step_done(Q_QUEUE_DELETE, "forget a queue");
	}
	if ((st = query(Q_QUEUE_PUT)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, owner);
	bind_text(st, 2, name);
	sqlite3_bind_int64(st, 3, max_running);
	sqlite3_bind_int(st, 4, paused);
	return step_done(Q_QUEUE_PUT, "write a queue");
}

void
db_each_queue(void (*fn)(uid_t owner, const char *name, unsigned max_running,
			 bool paused))
{
	sqlite3_stmt *st = query(Q_QUEUES);

	if (st == NULL)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		fn((uid_t)sqlite3_column_int64(st, 0), name ? name : "",
		   (unsigned)sqlite3_column_int64(st, 2),
		   sqlite3_column_int(st, 3) != 0);
	}
	sqlite3_reset(st);
}
