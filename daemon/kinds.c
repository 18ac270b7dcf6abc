/* The job kinds this daemon runs, in the order daemon.info lists them. */
#include <string.h>

#include "kinds.h"

const struct job_kind *const job_kinds[] = {
	&kind_sleep,
	&kind_read_file,
	&kind_fetch_user,
	&kind_process,
	&kind_download,
};

const size_t job_kinds_count = sizeof job_kinds / sizeof job_kinds[0];

const struct job_kind *
kinds_find(const char *name)
{
	for (size_t i = 0; i < job_kinds_count; i++)
		if (strcmp(job_kinds[i]->name, name) == 0)
			return job_kinds[i];
	return NULL;
}

bool
kinds_requeue_always(struct json_object *args UNUSED)
{
	return true;
}
