/* The command table of asyncctl. */
#include <stddef.h>

#include "asyncctl.h"

const struct ctl_command ctl_commands[] = {
	{"sleep", cmd_sleep, OPTS_SUBMIT, "sleep MS"},
	{"get", cmd_get, 0, "get ID"},
	{"list", cmd_list, OPTBIT(OPT_STATE) | OPTBIT(OPT_KIND) | OPTBIT(OPT_LIMIT),
	 "list [--state S] [--kind K] [--limit N]"},
	{"cancel", cmd_cancel, 0, "cancel ID..."},
	{"wait", cmd_wait, 0, "wait ID..."},
	{"watch", cmd_watch, 0, "watch [ID...]"},
	{"info", cmd_info, 0, "info"},
	{"call", cmd_call, 0, "call METHOD [PARAMS_JSON]"},
	{NULL, NULL, 0, NULL},
};
