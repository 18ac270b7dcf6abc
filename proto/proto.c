/* Names and messages of the wire contract's constants. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "proto.h"

static const char *const state_names[JOB_NSTATES] = {
	[JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running",
	[JOB_COMPLETED] = "completed",
	[JOB_FAILED] = "failed",
};

static const struct {
	int code;
	const char *message;
} rpc_messages[] = {
	{RPC_PARSE_ERROR, "parse error"},
	{RPC_INVALID_REQUEST, "invalid request"},
	{RPC_METHOD_NOT_FOUND, "method not found"},
	{RPC_INVALID_PARAMS, "invalid params"},
	{RPC_INTERNAL_ERROR, "internal error"},
	{RPC_NO_SUCH_JOB, "no such job"},
	{RPC_JOB_FINISHED, "job already finished"},
	{RPC_OVERLOADED, "overloaded"},
	{RPC_SHUTTING_DOWN, "shutting down"},
	{RPC_STORE_UNAVAILABLE, "store unavailable"},
	{RPC_JOB_NOT_FINISHED, "job not finished"},
	{RPC_JOB_NOT_QUEUED, "job not queued"},
};

const char *
proto_rpc_message(int code)
{
	for (size_t i = 0; i < sizeof rpc_messages / sizeof rpc_messages[0];
	     i++)
		if (rpc_messages[i].code == code)
			return rpc_messages[i].message;
	return "error";
}

const char *
proto_state_name(enum job_state state)
{
	if ((unsigned)state >= JOB_NSTATES)
		return "unknown";
	return state_names[state];
}

int
proto_state_parse(const char *name)
{
	for (int i = 0; i < JOB_NSTATES; i++)
		if (strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

const char *
proto_errno_code(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return JOBERR_NOT_FOUND;
	case EACCES:
	case EPERM:
	case EROFS:
		return JOBERR_PERMISSION_DENIED;
	case EISDIR:
		return JOBERR_IS_A_DIRECTORY;
	case EEXIST:
		return JOBERR_EXISTS;
	default:
		return JOBERR_IO_ERROR;
	}
}

void
proto_format_time(long long now_ms, char buf[32])
{
	time_t secs = (time_t)(now_ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 32 - n, ".%03dZ", (int)(now_ms % 1000));
}

/* Reads N digits at *P into *V; false if they are not there. */
static bool
read_digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return false;
		*v = *v * 10 + (**p - '0');
	}
	return true;
}

int
proto_parse_time(const char *text, long long *ms)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = text;
	int year, mon, day, hour, min, sec, oh = 0, om = 0, frac = 0, scale = 1;
	int sign = 0;
	struct tm tm = {0};

	if (!read_digits(&p, 4, &year) || *p++ != '-' ||
	    !read_digits(&p, 2, &mon) || *p++ != '-' ||
	    !read_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' ') ||
	    (p++, !read_digits(&p, 2, &hour)) || *p++ != ':' ||
	    !read_digits(&p, 2, &min) || *p++ != ':' ||
	    !read_digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++)
			if (scale < 1000) {
				frac = frac * 10 + (*p - '0');
				scale *= 10;
			}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!read_digits(&p, 2, &oh) || *p++ != ':' ||
		    !read_digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
	} else {
		return -1;
	}
	if (*p != '\0' || year < 1970 || mon < 1 || mon > 12 || day < 1 ||
	    day > mdays[mon - 1] || hour > 23 || min > 59 || sec > 60 ||
	    (mon == 2 && day == 29 &&
	     !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))))
		return -1;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec == 60 ? 59 : sec; /* a leap second: its last moment */
	*ms = ((long long)timegm(&tm) - sign * (oh * 3600LL + om * 60LL)) * 1000 +
	      frac * (1000 / scale);
	return *ms > 0 ? 0 : -1;
}

char *
proto_default_socket(void)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	char *path = NULL;
	int n;

	if (geteuid() == 0)
		return strdup(PROTO_SYSTEM_SOCKET);
	if (runtime != NULL && runtime[0] == '/')
		n = asprintf(&path, "%s/asyncd/%s", runtime, PROTO_SOCKET_NAME);
	else
		n = asprintf(&path, "/tmp/asyncd-%u/%s", (unsigned)geteuid(),
			     PROTO_SOCKET_NAME);
	return n < 0 ? NULL : path;
}
