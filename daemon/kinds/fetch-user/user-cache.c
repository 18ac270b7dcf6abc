/* The fetch-user cache: up to a few hundred results, each for a second
 * and while the user database files stay as they were (passwd-watch.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/linkhash.h>

#include "../../runtime.h"
#include "../../xmalloc.h"
#include "passwd-watch.h"
#include "user-cache.h"

#define USER_CACHE_MS 1000
#define USER_CACHE_MAX 512

struct user_cache_entry {
	struct json_object *result;
	struct user_cache_stamp stamp;
};

static struct lh_table *entries; /* "u:UID" and "n:NAME" -> entry */

static void
entry_free(struct lh_entry *e)
{
	struct user_cache_entry *entry = (struct user_cache_entry *)lh_entry_v(e);

	free(lh_entry_k(e));
	json_object_put(entry->result);
	free(entry);
}

void
user_cache_stamp(struct user_cache_stamp *stamp)
{
	stamp->generation = passwd_watch_generation();
	stamp->taken_ms = now_mono_ms();
}

static char *
key_of(const char *name, uid_t uid)
{
	char *key;
	int n = name != NULL ? asprintf(&key, "n:%s", name)
			     : asprintf(&key, "u:%u", (unsigned)uid);

	if (n < 0)
		abort();
	return key;
}

struct json_object *
user_cache_get(const char *name, uid_t uid)
{
	struct user_cache_entry *entry;
	char *key;
	void *v;
	bool found;

	if (entries == NULL)
		return NULL;
	key = key_of(name, uid);
	found = lh_table_lookup_ex(entries, key, &v);
	free(key);
	if (!found)
		return NULL;
	entry = v;
	if (now_mono_ms() - entry->stamp.taken_ms >= USER_CACHE_MS ||
	    passwd_watch_generation() != entry->stamp.generation)
		return NULL;
	return json_object_get(entry->result);
}

static void
put_key(char *key, const struct user_cache_stamp *stamp,
	struct json_object *result)
{
	struct user_cache_entry *entry = xmalloc(sizeof *entry);

	entry->result = json_object_get(result);
	entry->stamp = *stamp;
	lh_table_delete(entries, key); /* an older entry, if any */
	lh_table_insert(entries, key, entry);
}

/* Drops every entry; the watch stays. */
static void
user_cache_clear(void)
{
	if (entries != NULL)
		lh_table_free(entries);
	entries = NULL;
}

void
user_cache_put(const struct user_cache_stamp *stamp, struct json_object *result)
{
	struct json_object *uid, *name;

	/* Starting afresh is simpler than ageing entries out one by one. */
	if (entries != NULL && lh_table_length(entries) >= USER_CACHE_MAX)
		user_cache_clear();
	if (entries == NULL)
		entries = lh_kchar_table_new(64, entry_free);
	if (json_object_object_get_ex(result, "uid", &uid))
		put_key(key_of(NULL, (uid_t)json_object_get_int64(uid)), stamp, result);
	if (json_object_object_get_ex(result, "name", &name))
		put_key(key_of(json_object_get_string(name), 0), stamp, result);
}

void
user_cache_free(void)
{
	user_cache_clear();
	passwd_watch_free();
}
