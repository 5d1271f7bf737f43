/* sift-events.h: the names of the events fts-sift sends, for stats
   (metric { filter = event=<name> }) and event filters.  Every event is a
   child of the backend's event (category "fts-sift", parent category
   "fts") and carries the field "mailbox" (its virtual name).  Durations
   are Dovecot's own: an event's duration is the time since the operation
   it ends began.  The README's "Events" section lists each event's
   fields; keep the two in step.  Events are sent at debug level, so they
   reach the log only with mail_debug (or a log_debug filter), and reach
   stats whenever a metric asks for them. */
#ifndef SIFT_EVENTS_H
#define SIFT_EVENTS_H

/* A batch of index changes was committed.  Fields: messages (documents
   added), expunges (expunges recorded), text_bytes, last_uid.
   Duration: the commit (side files, metadata and Xapian commit). */
#define SIFT_EVENT_COMMIT "fts_sift_commit_finished"
/* Expunged messages were recorded in the index (in a commit).  Fields:
   expunges, expunged_total (expunged documents still in the index). */
#define SIFT_EVENT_EXPUNGES "fts_sift_expunges_recorded"
/* A writer of one mailbox's index finished (an indexing run, or the
   update of a sync).  Fields: messages (documents added by this run).
   Duration: from opening the writer to the
   end, compaction included. */
#define SIFT_EVENT_INDEX "fts_sift_index_finished"
/* The index was compacted, or rebuilt without expunged documents.
   Fields: kind ("compact" or "rebuild"), dropped (documents removed).
   Duration: the whole operation. */
#define SIFT_EVENT_COMPACT "fts_sift_compact_finished"
/* An index that can't be used (corrupt, unreadable format) was moved
   aside for inspection; the mailbox is reindexed.  Fields: path,
   moved_to (empty if it had to be deleted instead), damage (why it was
   unusable; empty if it was only outdated: another format, text pipeline
   or header selection). */
#define SIFT_EVENT_MOVED_ASIDE "fts_sift_index_moved_aside"
/* A search of one mailbox was answered from its index.  Fields: definite,
   maybe (UIDs), unindexed (UIDs above the index's last_uid, which Dovecot
   reads itself), left_to_dovecot (maybe + unindexed), last_uid, plans
   (the kinds of the search strings' plans, e.g. "word,candidates").
   Duration: the lookup. */
#define SIFT_EVENT_LOOKUP "fts_sift_lookup_finished"
/* The session user has no read right on the mailbox: its index is not
   used (the search finds nothing there).  Fields: user. */
#define SIFT_EVENT_ACL_DENIED "fts_sift_acl_denied"

#endif
