/* sift-compat.h: every difference between the Dovecot versions the plugin
   builds against is handled here, keyed off configure's probes. */
#ifndef SIFT_COMPAT_H
#define SIFT_COMPAT_H

#include "sift-config.h"

#if SIFT_FTS_USER_INIT_ARGS == 3
#  define sift_fts_mail_user_init(user, error_r) \
	fts_mail_user_init(user, FALSE, error_r)
#else
#  define sift_fts_mail_user_init(user, error_r) \
	fts_mail_user_init(user, error_r)
#endif

#endif
