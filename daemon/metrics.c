/* The daemon's figures for Prometheus (see metrics.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "kinds.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

/* Upper bounds of the histograms' buckets, in seconds; +Inf follows. */
static const double duration_bounds[] = {0.01, 0.1, 1, 10, 60, 300, 1800,
					 3600, 21600, 86400};
#define NDURATION (sizeof duration_bounds / sizeof duration_bounds[0])
static const double commit_bounds[] = {0.0005, 0.001, 0.005, 0.01, 0.05,
				       0.1, 0.5, 1};
#define NCOMMIT (sizeof commit_bounds / sizeof commit_bounds[0])

struct histogram {
	unsigned long long le[NDURATION > NCOMMIT ? NDURATION : NCOMMIT];
	unsigned long long count;
	double sum;
};

struct kind_figures {
	unsigned long long submitted, completed, retried;
	unsigned long long gauge[JOB_NSTATES]; /* queued, running */
	struct histogram duration;
};

/* Failures by kind and error code: few, so a list. */
struct failure_count {
	size_t kind;
	char code[32];
	unsigned long long n;
};

static struct kind_figures *kinds;
static size_t nkinds;
static struct failure_count *failures;
static size_t nfailures;
static unsigned long long download_bytes, output_bytes, refused;
static struct histogram commits;
static double start_time;

void
metrics_init(void)
{
	start_time = (double)now_wall_ms() / 1000;
}

void
metrics_free(void)
{
	free(kinds);
	free(failures);
	kinds = NULL;
	failures = NULL;
	nkinds = nfailures = 0;
}

/* KIND's figures; the table follows the kinds in use. */
static struct kind_figures *
figures_of(const struct job_kind *kind)
{
	if (kinds == NULL) {
		nkinds = kinds_count();
		kinds = xcalloc(nkinds, sizeof *kinds);
	}
	for (size_t i = 0; i < nkinds; i++)
		if (kinds_at(i) == kind)
			return &kinds[i];
	fatalx("metrics: no kind %s", kind->name);
}

static void
observe(struct histogram *h, const double *bounds, size_t n, double v)
{
	for (size_t i = 0; i < n; i++)
		if (v <= bounds[i])
			h->le[i]++;
	h->count++;
	h->sum += v;
}

void
metrics_job_submitted(const struct job_kind *kind)
{
	figures_of(kind)->submitted++;
}

void
metrics_job_state(const struct job_kind *kind, enum job_state from,
		  enum job_state to)
{
	struct kind_figures *f = figures_of(kind);

	if (from == JOB_QUEUED || from == JOB_RUNNING)
		f->gauge[from]--;
	if (to == JOB_QUEUED || to == JOB_RUNNING)
		f->gauge[to]++;
}

void
metrics_job_ended(const struct job_kind *kind, const char *error_code,
		  long long run_ms)
{
	struct kind_figures *f = figures_of(kind);
	size_t k = (size_t)(f - kinds), i;

	if (run_ms >= 0)
		observe(&f->duration, duration_bounds, NDURATION,
			(double)run_ms / 1000);
	if (error_code == NULL) {
		f->completed++;
		return;
	}
	for (i = 0; i < nfailures; i++)
		if (failures[i].kind == k &&
		    strcmp(failures[i].code, error_code) == 0)
			break;
	if (i == nfailures) {
		failures = xreallocarray(failures, nfailures + 1,
					 sizeof *failures);
		failures[i].kind = k;
		snprintf(failures[i].code, sizeof failures[i].code, "%s",
			 error_code);
		failures[i].n = 0;
		nfailures++;
	}
	failures[i].n++;
}

void
metrics_job_retried(const struct job_kind *kind)
{
	figures_of(kind)->retried++;
}

void
metrics_download_bytes(size_t n)
{
	download_bytes += n;
}

void
metrics_output_bytes(size_t n)
{
	output_bytes += n;
}

void
metrics_connection_refused(void)
{
	refused++;
}

void
metrics_store_commit(double seconds)
{
	observe(&commits, commit_bounds, NCOMMIT, seconds);
}

/* ---- The text ------------------------------------------------------------ */

static void
head(struct evbuffer *out, const char *name, const char *type,
     const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
			    name, type);
}

/* One line per kind of the counter at OFFSET in struct kind_figures. */
static void
per_kind(struct evbuffer *out, const char *name, size_t offset)
{
	for (size_t i = 0; i < nkinds; i++)
		evbuffer_add_printf(out, "%s{kind=\"%s\"} %llu\n", name,
				    kinds_at(i)->name,
				    *(unsigned long long *)((char *)&kinds[i] +
							    offset));
}

static void
histogram(struct evbuffer *out, const char *name, const char *labels,
	  const struct histogram *h, const double *bounds, size_t n)
{
	const char *sep = labels[0] != '\0' ? "," : "";

	for (size_t i = 0; i < n; i++)
		evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name,
				    labels, sep, bounds[i], h->le[i]);
	evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name,
			    labels, sep, h->count);
	/* "{}" is valid text format for no labels. */
	evbuffer_add_printf(out, "%s_sum{%s} %.6f\n", name, labels, h->sum);
	evbuffer_add_printf(out, "%s_count{%s} %llu\n", name, labels, h->count);
}

void
metrics_render(struct evbuffer *out, const struct metrics_state *st)
{
	char labels[96];

	if (kinds == NULL && kinds_count() > 0)
		figures_of(kinds_at(0));
	head(out, "asyncd_build_info", "gauge",
	     "The running asyncd's version (the value is always 1).");
	evbuffer_add_printf(out, "asyncd_build_info{version=\"%s\"} 1\n",
			    PACKAGE_VERSION);
	head(out, "process_start_time_seconds", "gauge",
	     "When the daemon started, in seconds since the epoch.");
	evbuffer_add_printf(out, "process_start_time_seconds %.3f\n", start_time);

	head(out, "asyncd_jobs_submitted_total", "counter",
	     "Jobs submitted (restarts of a job count as new jobs).");
	per_kind(out, "asyncd_jobs_submitted_total",
		 offsetof(struct kind_figures, submitted));
	head(out, "asyncd_jobs_completed_total", "counter", "Jobs completed.");
	per_kind(out, "asyncd_jobs_completed_total",
		 offsetof(struct kind_figures, completed));
	head(out, "asyncd_jobs_failed_total", "counter",
	     "Jobs failed, by error code.");
	for (size_t i = 0; i < nfailures; i++)
		evbuffer_add_printf(out,
				    "asyncd_jobs_failed_total{kind=\"%s\","
				    "code=\"%s\"} %llu\n",
				    kinds_at(failures[i].kind)->name,
				    failures[i].code, failures[i].n);
	head(out, "asyncd_job_retries_total", "counter",
	     "Failed attempts that were retried.");
	per_kind(out, "asyncd_job_retries_total",
		 offsetof(struct kind_figures, retried));
	head(out, "asyncd_jobs_queued", "gauge", "Jobs queued now.");
	per_kind(out, "asyncd_jobs_queued",
		 offsetof(struct kind_figures, gauge[JOB_QUEUED]));
	head(out, "asyncd_jobs_running", "gauge", "Jobs running now.");
	per_kind(out, "asyncd_jobs_running",
		 offsetof(struct kind_figures, gauge[JOB_RUNNING]));
	head(out, "asyncd_job_duration_seconds", "histogram",
	     "How long jobs ran, from their last start to their end.");
	for (size_t i = 0; i < nkinds; i++) {
		snprintf(labels, sizeof labels, "kind=\"%s\"", kinds_at(i)->name);
		histogram(out, "asyncd_job_duration_seconds", labels,
			  &kinds[i].duration, duration_bounds, NDURATION);
	}

	head(out, "asyncd_download_bytes_total", "counter",
	     "Bytes downloaded.");
	evbuffer_add_printf(out, "asyncd_download_bytes_total %llu\n",
			    download_bytes);
	head(out, "asyncd_output_bytes_total", "counter",
	     "Bytes of job output sent to clients.");
	evbuffer_add_printf(out, "asyncd_output_bytes_total %llu\n", output_bytes);
	head(out, "asyncd_retained_bytes", "gauge",
	     "Bytes of job output kept for replays.");
	evbuffer_add_printf(out, "asyncd_retained_bytes %lld\n",
			    st->retained_bytes);
	head(out, "asyncd_connections_open", "gauge", "Client connections open.");
	evbuffer_add_printf(out, "asyncd_connections_open %u\n", st->connections);
	head(out, "asyncd_connections_refused_total", "counter",
	     "Client connections refused at accept.");
	evbuffer_add_printf(out, "asyncd_connections_refused_total %llu\n",
			    refused);
	if (st->store_bytes >= 0) {
		head(out, "asyncd_store_bytes", "gauge",
		     "Bytes the state database takes on disk.");
		evbuffer_add_printf(out, "asyncd_store_bytes %lld\n",
				    st->store_bytes);
		head(out, "asyncd_store_commit_seconds", "histogram",
		     "Commits of the state database and how long they took.");
		histogram(out, "asyncd_store_commit_seconds", "", &commits,
			  commit_bounds, NCOMMIT);
	}
}
