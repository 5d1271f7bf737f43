#ifndef FTS_SIFT_SETTINGS_H
#define FTS_SIFT_SETTINGS_H

/* The plugin's own settings: plugin { fts_sift_<name> = <value> }.
   Every key, its type, default and meaning is in the table in
   fts-sift-settings.c and in the README. */
struct fts_sift_settings {
	/* Commit the index after this many messages ... */
	unsigned int commit_batch;
	/* ... or after this much text, whichever comes first.  Together
	   they bound the indexing process's memory. */
	uoff_t commit_size;
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
};

typedef const char *fts_sift_setting_lookup_t(void *context, const char *key);

/* Fill set from lookup (NULL = unset = default).  Returns 0, or -1 with
   an error naming the key and the bad value. */
int fts_sift_settings_parse(fts_sift_setting_lookup_t *lookup, void *context,
			    struct fts_sift_settings *set_r,
			    const char **error_r);

/* Is key (fts_sift_...) one of the settings?  If not, *closest_r is the
   valid key nearest to it (edit distance, at most 4), or NULL. */
bool fts_sift_settings_is_known(const char *key, const char **closest_r);

#endif
