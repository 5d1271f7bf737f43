#ifndef FTS_SIFT_SETTINGS_23_H
#define FTS_SIFT_SETTINGS_23_H

#include "fts-sift-settings.h"

struct mail_user;

/* Dovecot 2.3: fill set_r from the user's plugin { } settings (unset =
   default).  Returns 0, or -1 with an error naming the key and the bad
   value. */
int fts_sift_settings_read(struct mail_user *user,
			   struct fts_sift_settings *set_r,
			   const char **error_r);

#endif
