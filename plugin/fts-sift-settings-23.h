/* fts-sift-settings-23.h: Dovecot 2.3's settings parser (plugin { }
   lookups through a callback, so the unit test feeds it directly). */
#ifndef FTS_SIFT_SETTINGS_23_H
#define FTS_SIFT_SETTINGS_23_H

#include "fts-sift-settings.h"

struct mail_user;

/* The value of a plugin { } setting, NULL if unset. */
typedef const char *fts_sift_settings_lookup_t(const char *key,
					       void *context);

/* Fill set_r from the settings lookup() returns (unset or "" = default;
   the decoders from fts_decoder and fts_tika).  Returns 0, or -1 with an
   error naming the key and the bad value.  (The parser itself, apart
   from where the values come from: unit-tested, test-sift-settings.) */
int fts_sift_settings_parse(fts_sift_settings_lookup_t *lookup,
			    void *context, struct fts_sift_settings *set_r,
			    const char **error_r);

/* Dovecot 2.3: fill set_r from the user's plugin { } settings (unset =
   default).  Returns 0, or -1 with an error naming the key and the bad
   value. */
int fts_sift_settings_read(struct mail_user *user,
			   struct fts_sift_settings *set_r,
			   const char **error_r);

/* Is key (fts_sift_...) one of the settings?  If not, *closest_r is the
   valid key nearest to it (edit distance, at most 4), or NULL.  (Only 2.3
   needs it: 2.4's config process rejects unknown keys itself.) */
bool fts_sift_settings_is_known(const char *key, const char **closest_r);

#endif
