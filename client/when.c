/* DURATION and TIME arguments (see when.h). */
#include <stdlib.h>
#include <string.h>

#include "../proto/proto.h"
#include "when.h"

static const struct {
	const char *name;
	double ms;
} when_units[] = {
	{"", 1000}, /* a plain number is seconds */
	{"ms", 1},
	{"s", 1000},
	{"m", 60 * 1000},
	{"h", 60 * 60 * 1000},
	{"d", 24 * 60 * 60 * 1000},
};

int
when_duration(const char *text, long long *ms)
{
	const char *p = text;
	double n, total;
	char *end;

	/* Digits, with at most one point, and no sign, space or exponent. */
	if (*p < '0' || *p > '9')
		return -1;
	p += strspn(p, "0123456789");
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		p += strspn(p, "0123456789");
	}
	n = strtod(text, &end);
	if (end != p)
		return -1;
	for (size_t i = 0; i < sizeof when_units / sizeof when_units[0]; i++) {
		if (strcmp(p, when_units[i].name) != 0)
			continue;
		total = n * when_units[i].ms + 0.5;
		if (!(total < 9e18)) /* beyond any delay, and long long */
			return -1;
		*ms = (long long)total; /* rounded */
		return 0;
	}
	return -1;
}

/* Reads exactly two digits at *P as a number up to MAX. */
static int
when_two_digits(const char **p, int max, int *out)
{
	const char *s = *p;

	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	*out = (s[0] - '0') * 10 + (s[1] - '0');
	*p = s + 2;
	return *out <= max ? 0 : -1;
}

/* The moment of the local clock time H:M:S on the day of NOW, or the
 * next day when that is not after NOW; -1 if there is none. */
static time_t
when_next_local(time_t now, int h, int m, int s)
{
	struct tm tm;
	time_t t;

	for (int day = 0; day < 2; day++) {
		if (localtime_r(&now, &tm) == NULL)
			return -1;
		tm.tm_mday += day;
		tm.tm_hour = h;
		tm.tm_min = m;
		tm.tm_sec = s;
		tm.tm_isdst = -1; /* whatever is in force on that day */
		if ((t = mktime(&tm)) == (time_t)-1)
			return -1;
		if (t > now)
			return t;
	}
	return -1;
}

char *
when_time(const char *text, time_t now)
{
	const char *p = text;
	char buf[32];
	int h, m, s = 0;
	long long ms;
	time_t t;

	if (proto_parse_time(text, &ms) == 0)
		return strdup(text);
	if (when_two_digits(&p, 23, &h) < 0 || *p++ != ':' ||
	    when_two_digits(&p, 59, &m) < 0)
		return NULL;
	if (*p == ':' && (p++, when_two_digits(&p, 59, &s) < 0))
		return NULL;
	if (*p != '\0' || (t = when_next_local(now, h, m, s)) == (time_t)-1)
		return NULL;
	proto_format_time((long long)t * 1000, buf);
	return strdup(buf);
}
