#ifndef FTS_SIFT_SETTINGS_H
#define FTS_SIFT_SETTINGS_H

/* The plugin's own settings, the same keys on every Dovecot version:
   fts_sift_<name>.  How they are declared and read is the only part that
   differs: fts-sift-settings-23.c (plugin { } lookups, Dovecot 2.3) or
   fts-sift-settings-24.c (setting_define table and settings_get(),
   Dovecot 2.4).  Their meaning, defaults and bounds are in the README and
   in fts-sift-settings.c, shared by both. */
struct fts_sift_settings {
	/* Dovecot 2.4's settings_get() allocates the struct from this pool
	   (settings_free() releases it); unused with 2.3. */
	pool_t pool;
	/* Commit the index after this many messages ... */
	unsigned int commit_batch;
	/* ... or after this much text, whichever comes first.  Together
	   they bound the indexing process's memory. */
	uoff_t commit_size;
	/* ... or before the batch's postings buffered in memory (an
	   estimate, sift-index.c) would pass this size; a message that
	   alone passes it is committed in a batch of its own.  This is the
	   bound on the indexing process's peak memory: a few large
	   messages no longer add up with a full batch. */
	uoff_t commit_memory;
	/* A message's document takes at most this many distinct terms
	   (0 = no bound); the rest of its text is left to Dovecot's own
	   search, which reads the message (sift-doc-builder.h).  Xapian's
	   copy of a document costs about 400 bytes per distinct term, which
	   no commit setting splits: this bounds one huge message's share of
	   the indexing process's peak. */
	unsigned int max_doc_terms;
	/* Compact the index after an indexing run that added at least this
	   many messages (0 = never). */
	unsigned int compact_after;
	/* Longest wait for another process's write lock, in seconds. */
	unsigned int lock_timeout_secs;
	/* fsync at each commit. */
	bool fsync;
	/* Index and search words also without their accents (combining
	   diacritical marks), so that "cafe" finds "café". */
	bool fold_accents;

	/* Not ours, and not in 2.4's setting_define table: what Dovecot's
	   fts plugin is configured to decode, filled in by the version's
	   user file from the fts settings (2.3: fts_decoder, fts_tika;
	   2.4: fts_decoder_driver, fts_decoder_script_socket_path).
	   Attachment text extracted for the index counts as a match of
	   BODY and TEXT (README, "Attachments"). */
	bool decoded_attachments;
	/* a decoder script converts the types it lists (sift-decoder.c) */
	bool decoder_script;
	/* the script service's socket (relative: to base_dir) */
	const char *decoder_socket_path;
	/* Tika may also have converted text parts other than text/plain
	   and text/html (fts-parser.c sends it every type its other
	   parsers leave). */
	bool tika;
	/* Dovecot 2.4's fts_message_max_size (0: none; 2.3 has no such
	   setting): the fts plugin hands us only this many bytes of a
	   message's body, and messages it may have cut are flagged
	   (fts-backend-sift.c, sift_update_body_cut()). */
	uoff_t body_size_limit;
};

/* Inclusive bounds, checked by both versions' parsers. */
#define FTS_SIFT_COMMIT_BATCH_MIN 1
#define FTS_SIFT_COMMIT_BATCH_MAX 1000000
#define FTS_SIFT_COMMIT_SIZE_MIN ((uoff_t)1024 * 1024)
#define FTS_SIFT_COMMIT_SIZE_MAX ((uoff_t)16 * 1024 * 1024 * 1024)
#define FTS_SIFT_COMMIT_MEMORY_MIN ((uoff_t)1024 * 1024)
#define FTS_SIFT_COMMIT_MEMORY_MAX ((uoff_t)16 * 1024 * 1024 * 1024)
#define FTS_SIFT_LOCK_TIMEOUT_MAX 3600
/* fts_sift_max_doc_terms: 0 (no bound) or in this range */
#define FTS_SIFT_MAX_DOC_TERMS_MIN 16
#define FTS_SIFT_MAX_DOC_TERMS_MAX 100000000

/* Check the bounds of every setting.  Returns 0, or -1 with an error
   naming the key and the bad value. */
int fts_sift_settings_check(const struct fts_sift_settings *set,
			    const char **error_r);

#endif
