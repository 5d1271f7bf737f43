/* sift-expunge-queue: the file "expunges" next to an index, where a
   process that only syncs an expunge records it without taking the
   database's write lock.

   A process that syncs an expunge (an imap session, often) must not wait
   for the write lock, which an indexing run may hold for a long time.  So
   an update that only records expunges appends them to this file
   instead - one line "<uid ranges> <checksum>" under a short flock(),
   never the database's lock - and every writer takes the queue over when
   it opens the index and at each commit (flock, read), recording the
   UIDs in sift.expunged with its next commit, and only after that commit
   cuts the lines it read (if no line came meanwhile; else the next
   commit reads the whole queue again): a writer killed or failing before
   its commit leaves the queue for the next one, so a line is never lost
   between the queue and the database.  Searches read the queue too.  A
   lost line costs nothing but tidiness: a document of an expunged
   message never shows up in a result (Dovecot drops UIDs that no longer
   exist) and "doveadm fts rescan" records it.

   Problems reading or cutting the queue are logged to event as warnings
   (debug for a reader): they never fail a search or a commit. */
#ifndef SIFT_EXPUNGE_QUEUE_H
#define SIFT_EXPUNGE_QUEUE_H

#include "seq-range-array.h"

#define SIFT_EXPUNGE_QUEUE_FILE "expunges"

/* Searches: add the UIDs of the queue in dir to uids (no lock: a line
   being written is torn and skipped). */
void sift_expunge_queue_read(const char *dir, struct event *event,
			     ARRAY_TYPE(seq_range) *uids);
/* Writer (holding the database's write lock): add the queue's UIDs to
   uids, which must not be a data stack array (the parser grows it inside
   its own data stack frames).  Returns the queue's size that was read, to pass to
   sift_expunge_queue_trim() after the commit that records them (0: no
   queue, or nothing read). */
uoff_t sift_expunge_queue_take(const char *dir, struct event *event,
			       ARRAY_TYPE(seq_range) *uids);
/* Writer, after that commit: cut the queue if it still holds exactly the
   taken bytes (lines appended since stay, with the old ones, for the
   next commit). */
void sift_expunge_queue_trim(const char *dir, struct event *event,
			     uoff_t taken);
/* Append uids to the queue in dir, creating it with mode (the caller
   sets the umask).  Returns 0, or -1 with error_r. */
int sift_expunge_queue_append(const char *dir, mode_t mode,
			      const ARRAY_TYPE(seq_range) *uids,
			      const char **error_r);

#endif
