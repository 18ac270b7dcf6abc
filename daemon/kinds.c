/* The job kinds this daemon runs, in the order daemon.info lists them. */
#include "kinds.h"

const struct job_kind *const job_kinds[] = {
	&kind_sleep,
	&kind_read_file,
	&kind_fetch_user,
	&kind_process,
	&kind_download,
};

const size_t job_kinds_count = sizeof job_kinds / sizeof job_kinds[0];
