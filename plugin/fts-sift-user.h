#ifndef FTS_SIFT_USER_H
#define FTS_SIFT_USER_H

/* fts-sift-user.h: what differs between Dovecot versions in setting up a
   user and a backend: where the settings come from, the fts user's
   init/deinit, and the backend's event.  One implementation per version:
   fts-sift-user-23.c, fts-sift-user-24.c (configure picks one). */

struct mail_user;
struct fts_backend;
struct event;
struct fts_sift_settings;

/* The mail_user_created hook (fts-sift-plugin.c adds it). */
void fts_sift_mail_user_created(struct mail_user *user);
/* Whether the user's fts driver is sift (2.3: plugin { fts = sift }; 2.4:
   one of the user's fts { } filters). */
bool fts_sift_user_uses_sift(struct mail_user *user);

/* At backend init: the backend's own event (a child of the right parent,
   with the fts-sift category and log prefix) and its settings.
   *set_error_r is non-NULL when the user's settings are invalid but the
   user goes on (Dovecot 2.3): the backend then refuses every call with
   it.  Returns 0, or -1 with an error (nothing to release then). */
int fts_sift_backend_user_init(struct fts_backend *backend,
			       struct event **event_r,
			       const struct fts_sift_settings **set_r,
			       const char **set_error_r,
			       const char **error_r);
/* The fts_header_includes / fts_header_excludes the fts core applies to
   this backend's namespace, as space-separated lists (NULL = unset), for
   sift-hdrfilter.  On 2.4 the user's (the core reads them once per user:
   a namespace or mailbox filter does not change them); call it after
   fts_sift_backend_user_init().  Returns 0, or -1 with an error. */
int fts_sift_backend_header_lists(struct fts_backend *backend,
				  const char **includes_r,
				  const char **excludes_r,
				  const char **error_r);
/* At backend deinit: release what fts_sift_backend_user_init() returned
   (both may be NULL). */
void fts_sift_backend_user_deinit(struct event **event,
				  const struct fts_sift_settings **set);

#endif
