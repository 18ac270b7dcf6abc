/* The socket file a daemon listens on: its directory made and checked,
 * a stale socket of a dead daemon replaced, a live daemon's refused. */
#ifndef ASYNCD_SOCKET_FILE_H
#define ASYNCD_SOCKET_FILE_H

/* Binds and listens on PATH with MODE (never wider, not even for a
 * moment). Returns the listening socket, non-blocking, or -1 after
 * logging why. */
int socket_file_bind(const char *path, int mode);

#endif
