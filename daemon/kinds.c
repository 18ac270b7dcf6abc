/* The job kinds this daemon runs, in the order daemon.info lists them. */
#include <string.h>

#include "kinds.h"

static const struct job_kind *const builtin_kinds[] = {
	&kind_sleep,
	&kind_read_file,
	&kind_fetch_user,
	&kind_process,
	&kind_download,
};

static const struct job_kind *const *kinds = builtin_kinds;
static size_t nkinds = sizeof builtin_kinds / sizeof builtin_kinds[0];

void
kinds_use(const struct job_kind *const *table, size_t n)
{
	kinds = table;
	nkinds = n;
}

size_t
kinds_count(void)
{
	return nkinds;
}

const struct job_kind *
kinds_at(size_t i)
{
	return kinds[i];
}

const struct job_kind *
kinds_find(const char *name)
{
	for (size_t i = 0; i < nkinds; i++)
		if (strcmp(kinds[i]->name, name) == 0)
			return kinds[i];
	return NULL;
}

bool
kinds_requeue_always(struct json_object *args UNUSED)
{
	return true;
}
