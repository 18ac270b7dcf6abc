/* The journal's MESSAGE_ID of each kind of log line about a job
 * (journalctl MESSAGE_ID=...); asyncd(8) lists them. Never change one:
 * people filter on them. */
#ifndef ASYNCD_MSGIDS_H
#define ASYNCD_MSGIDS_H

#define MSGID_JOB_STARTED "dbef8f99be72460c9723e1ed33ee84a7"
#define MSGID_JOB_COMPLETED "d28e863d95454d50a8ff2123b8537928"
#define MSGID_JOB_FAILED "d5855638a9d543ec9b416eb779b47e37"
#define MSGID_JOB_RETRYING "3161e693f224422eb2506bb1b86e6fd3"
/* Queued again at a stop, or found running at a start. */
#define MSGID_JOB_REQUEUED "095854b6cb114cdb8f75e80911c8c9b9"
/* A process group still there after SIGTERM got SIGKILL. */
#define MSGID_JOB_KILLED "c3e4d0d3c17e4f98b8fe27d19ce679d7"
/* Output pipes a leftover held open were closed. */
#define MSGID_JOB_OUTPUT_CLOSED "f56c0f5e1ebc44259b0e09ba2b877ada"
/* A download continues from DEST.part, starts over, or retries. */
#define MSGID_DOWNLOAD_RESUMED "e2decbe2da2440abb9a0162bba1bab10"
#define MSGID_DOWNLOAD_RESTARTED "ddb3960b46a74854a786676e796e452c"
#define MSGID_DOWNLOAD_RETRY "ef23c8a5120b487997fe31b89fb84af3"
/* Anything else about a job (warnings, debug lines). */
#define MSGID_JOB "c06fde983c6244ae8a7e78c0627991db"

#endif
