/* Names and messages of the wire contract's constants. */
#include <errno.h>
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
