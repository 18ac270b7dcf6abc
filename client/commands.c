/* The command table of asyncctl. */
#include <stddef.h>

#include "asyncctl.h"

const struct ctl_command ctl_commands[] = {
	{"sleep", cmd_sleep, OPTS_SUBMIT, "sleep MS"},
	{"download", cmd_download,
	 OPTS_SUBMIT | OPTBIT(OPT_OUTPUT) | OPTBIT(OPT_SHA256) |
		 OPTBIT(OPT_RESUME) | OPTBIT(OPT_OVERWRITE) | OPTBIT(OPT_MAX_BYTES),
	 "download URL... [-o DEST] [--sha256 HEX] [--resume] [--overwrite] "
	 "[--max-bytes N]"},
	{"read-file", cmd_read_file,
	 OPTS_SUBMIT | OPTBIT(OPT_OFFSET) | OPTBIT(OPT_LENGTH),
	 "read-file PATH [--offset N] [--length N]"},
	{"fetch-user", cmd_fetch_user, OPTS_SUBMIT, "fetch-user UID|NAME"},
	{"process", cmd_process,
	 OPTS_SUBMIT | OPTBIT(OPT_CWD) | OPTBIT(OPT_ENV) | OPTBIT(OPT_STDIN),
	 "process [--cwd DIR] [--env K=V]... [--stdin FILE] -- PROGRAM [ARG...]"},
	{"get", cmd_get, 0, "get ID"},
	{"list", cmd_list,
	 OPTBIT(OPT_STATE) | OPTBIT(OPT_KIND) | OPTBIT(OPT_QUEUE) |
		 OPTBIT(OPT_LIMIT),
	 "list [--state S] [--kind K] [--queue NAME] [--limit N]"},
	{"cancel", cmd_cancel, 0, "cancel ID..."},
	{"wait", cmd_wait, 0, "wait ID..."},
	{"watch", cmd_watch, 0, "watch [ID...]"},
	{"log", cmd_log, OPTBIT(OPT_FOLLOW), "log [-f] ID"},
	{"queue", cmd_queue, OPTBIT(OPT_MAX_RUNNING),
	 "queue [NAME [--max-running N|none]]\n  queue pause|resume NAME"},
	{"pause", cmd_pause, 0, "pause ID..."},
	{"resume", cmd_resume, 0, "resume ID..."},
	{"restart", cmd_restart,
	 OPTBIT(OPT_DETACH) | OPTBIT(OPT_FAILED) | OPTBIT(OPT_QUEUE),
	 "restart ID... | restart --failed [--queue NAME]"},
	{"rm", cmd_rm, 0, "rm ID..."},
	{"clean", cmd_clean, OPTBIT(OPT_STATE) | OPTBIT(OPT_QUEUE),
	 "clean [--state completed|failed] [--queue NAME]"},
	{"info", cmd_info, 0, "info"},
	{"batch", cmd_batch, OPTBIT(OPT_DETACH),
	 "batch [--detach] < LINES (job.submit params, one JSON object a line)"},
	{"metrics", cmd_metrics, OPTBIT(OPT_TEXTFILE), "metrics [--textfile PATH]"},
	{"top", cmd_top, OPTBIT(OPT_LIMIT), "top [--limit N]"},
	{"call", cmd_call, 0, "call METHOD [PARAMS_JSON]"},
	{"bridge", cmd_bridge, 0, "bridge"},
	{NULL, NULL, 0, NULL},
};
