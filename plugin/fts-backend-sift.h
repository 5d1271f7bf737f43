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
};

#define SIFT_BACKEND(b) ((struct sift_fts_backend *)(b))

#endif
