/* fts-backend-sift.h: the backend struct Dovecot's fts plugin makes per
   namespace (settings, text pipeline, header selection, event), shared
   by the glue and the mailbox layer. */
#ifndef FTS_BACKEND_SIFT_H
#define FTS_BACKEND_SIFT_H

#include "fts-api-private.h"
#include "fts-sift-settings.h"

struct sift_text;
struct sift_hdrfilter;

/* One backend per namespace (Dovecot's fts plugin makes them). */
struct sift_fts_backend {
	struct fts_backend backend;
	struct event *event;
	const struct fts_sift_settings *set;
	/* non-NULL: the user's fts_sift_* settings are invalid (the error
	   names the key) and every call fails with it */
	const char *set_error;
	/* shared by indexing and searching, so both normalize and segment
	   text the same way */
	struct sift_text *text;
	/* the headers Dovecot's fts plugin hands over (its
	   fts_header_includes/excludes settings; sift-hdrfilter.h) */
	struct sift_hdrfilter *hdrfilter;
	/* the content types the fts_decoder script converts, read on first
	   use (sift-decoder.c); NULL pool: not read */
	pool_t decoder_pool;
	ARRAY_TYPE(const_string) decoder_types;
	bool decoder_failed;
	/* an update failed because the file system refused to write the
	   index (full, over quota, read-only, no permission): see
	   fts_backend_sift_update_deinit() */
	bool index_no_room;
	/* the index's last indexed UID at the latest lookup
	   (sift_query_lookup()); 0: no index */
	uint32_t lookup_last_uid;
	/* the last index found to be its mailbox's (sift-index-rewind.c):
	   checked again only when its path, last_uid or the mailbox's
	   UIDNEXT differ */
	char *rewind_ok_path;
	uint32_t rewind_ok_last_uid, rewind_ok_uidnext;
};

#define SIFT_BACKEND(b) ((struct sift_fts_backend *)(b))

#endif
