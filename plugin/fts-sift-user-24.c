/* fts-sift-user-24.c: user and backend setup on Dovecot 2.4.  Settings are
   read per backend with settings_get() on the backend's event, so they
   follow 2.4's filters ("fts sift { }", a namespace's own block); the fts
   plugin's own settings that say what it hands the backend (decoder,
   fts_message_max_size, header lists) are read where the plugin reads
   them, the fts user's.  Our keys and bounds are known to the config
   process through the settings module (fts-sift-settings-24.c), which
   rejects a bad value before any mail process starts. */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "mail-user.h"
#include "mail-namespace.h"
#include "settings.h"
#include "fts-api-private.h"
#include "fts-user.h"
#include "fts-settings.h"
#include "fts-sift-plugin.h"
#include "fts-sift-settings.h"
#include "fts-sift-settings-24.h"
#include "fts-sift-user.h"

/* Whether one of the user's fts { } filters names this driver. */
bool fts_sift_user_uses_sift(struct mail_user *user)
{
	const struct fts_settings *set;
	const char *error, *driver;
	bool found = FALSE;

	if (settings_get(user->event, &fts_setting_parser_info, 0,
			 &set, &error) < 0) {
		/* the fts plugin reports it itself */
		return FALSE;
	}
	if (array_is_created(&set->fts)) {
		array_foreach_elem(&set->fts, driver) {
			if (strcmp(driver, fts_backend_sift.name) == 0)
				found = TRUE;
		}
	}
	settings_free(set);
	return found;
}

void fts_sift_mail_user_created(struct mail_user *user)
{
	/* SEARCH=FUZZY, as on 2.3 (see fts-sift-user-23.c): set at user
	   creation for users whose fts driver is sift.  Dovecot 2.4.1's
	   imap still does not advertise it (neither for flatcurve, whose
	   backend has the flag too): its capability string is built
	   without it.  FUZZY keys work all the same. */
	if (fts_sift_user_uses_sift(user))
		user->fuzzy_search = TRUE;
}

int fts_sift_backend_user_init(struct fts_backend *backend,
			       struct event **event_r,
			       const struct fts_sift_settings **set_r,
			       const char **set_error_r,
			       const char **error_r)
{
	const struct fts_sift_settings *set;
	const struct fts_settings *fset;
	struct fts_sift_settings *copy;
	struct event *event;

	/* The core made backend->event (with the driver's settings filter
	   and an "fts-sift: " log prefix); ours is its child. */
	event = event_create(backend->event);
	event_add_category(event, &event_category_fts_sift);
	if (settings_get(event, &fts_sift_setting_parser_info, 0,
			 &set, error_r) < 0) {
		event_unref(&event);
		return -1;
	}
	/* loads the fts settings the indexer needs, and references the fts
	   user (released by the fts plugin with the backend) */
	if (fts_mail_user_init(backend->ns->user, event, FALSE, error_r) < 0) {
		settings_free(set);
		event_unref(&event);
		return -1;
	}
	/* What the fts plugin decodes and how much of a body it hands over,
	   read where it reads them: the fts user's settings (fts-parser-
	   script.c, fts-build-mail.c), loaded once per user, so a namespace's
	   or a mailbox's filter does not change them (a decoder set only in
	   a namespace block decodes nothing there).  Not our keys: a copy of
	   ours with them, in the same pool, so settings_free() still
	   releases everything. */
	fset = fts_user_get_settings(backend->ns->user);
	copy = p_new(set->pool, struct fts_sift_settings, 1);
	*copy = *set;
	copy->decoder_script = null_strcmp(fset->decoder_driver, "script") == 0;
	copy->tika = null_strcmp(fset->decoder_driver, "tika") == 0;
	copy->decoded_attachments = copy->decoder_script || copy->tika;
	if (copy->decoder_script &&
	    fset->decoder_script_socket_path != NULL &&
	    fset->decoder_script_socket_path[0] != '\0') {
		copy->decoder_socket_path =
			p_strdup(set->pool, fset->decoder_script_socket_path);
	}
	/* (2.4.1 also took 0 for "none") */
	copy->body_size_limit = fset->message_max_size;
	if (copy->body_size_limit == SET_SIZE_UNLIMITED)
		copy->body_size_limit = 0;
	set = copy;
	*event_r = event;
	*set_r = set;
	/* a bad value never gets here: the config process rejected it */
	*set_error_r = NULL;
	return 0;
}

static const char *fts_sift_join(const ARRAY_TYPE(const_string) *list)
{
	string_t *str;
	const char *name;

	if (!array_is_created(list) || array_count(list) == 0)
		return NULL;
	str = t_str_new(128);
	array_foreach_elem(list, name) {
		if (str_len(str) > 0)
			str_append_c(str, ' ');
		str_append(str, name);
	}
	return str_c(str);
}

int fts_sift_backend_header_lists(struct fts_backend *backend,
				  const char **includes_r,
				  const char **excludes_r,
				  const char **error_r ATTR_UNUSED)
{
	const struct fts_settings *set;

	/* 2.4's boolean lists (fts_header_excludes { Name = yes }), read
	   where the core reads the ones it applies when it hands a message's
	   headers over (fts-build-mail.c): the fts user's settings, loaded
	   once per user by fts_mail_user_init() (done by
	   fts_sift_backend_user_init() before this), so without the
	   namespace's or a mailbox's filters.  Reading them for the
	   backend's namespace instead took a list a namespace filter changes
	   for the one the index was built with: "namespace X {
	   fts_header_excludes { Subject = no } }" under a top-level
	   "Subject = yes" made the index answer SUBJECT in X from a
	   Subject the core had never given it (test_settings_scopes.py). */
	set = fts_user_get_settings(backend->ns->user);
	*includes_r = fts_sift_join(&set->header_includes);
	*excludes_r = fts_sift_join(&set->header_excludes);
	return 0;
}

void fts_sift_backend_user_deinit(struct event **event,
				  const struct fts_sift_settings **set)
{
	settings_free(*set);
	event_unref(event);
}
