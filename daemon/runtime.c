/* State shared by every module of the daemon. */
#include <time.h>

#include "runtime.h"

struct daemon_options daemon_opts;
struct event_base *daemon_base;

static long long
clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
now_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

long long
now_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

long long
now_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
