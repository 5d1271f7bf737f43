/* fts-sift-user-23.c: user and backend setup on Dovecot 2.3.  Settings
   come from the plugin { } section and are parsed once per user, at user
   creation.  A bad value is logged with its key and turns full-text search
   off for that user; login and delivery go on (on 2.4 the config process
   rejects such a value before any mail process starts). */
#include "lib.h"
#include "array.h"
#include "module-context.h"
#include "mail-user.h"
#include "mail-namespace.h"
#include "fts-api-private.h"
#include "fts-user.h"
#include "sift-compat.h"
#include "fts-sift-plugin.h"
#include "fts-sift-settings-23.h"
#include "fts-sift-user.h"

#define FTS_SIFT_USER_CONTEXT(obj) \
	MODULE_CONTEXT(obj, fts_sift_user_module)
#define FTS_SIFT_USER_CONTEXT_REQUIRE(obj) \
	MODULE_CONTEXT_REQUIRE(obj, fts_sift_user_module)

struct fts_sift_user {
	union mail_user_module_context module_ctx;
	struct fts_sift_settings set;
	/* a bad fts_sift_* value (the message names the key): full-text
	   search is off for this user, but login and delivery go on */
	const char *set_error;
};

static MODULE_CONTEXT_DEFINE_INIT(fts_sift_user_module,
				  &mail_user_module_register);

/* Warn about every plugin setting that looks like ours but isn't one
   (a typo would otherwise silently leave the default in force). */
static void sift_warn_unknown_settings(struct mail_user *user)
{
	const char *const *envs;
	unsigned int i, count;

	if (!array_is_created(&user->set->plugin_envs))
		return;
	envs = array_get(&user->set->plugin_envs, &count);
	for (i = 0; i + 1 < count; i += 2) {
		const char *closest;

		if (strncmp(envs[i], "fts_sift_", 9) != 0 ||
		    fts_sift_settings_is_known(envs[i], &closest))
			continue;
		e_warning(user->event, "fts-sift: Unknown setting %s "
			  "(ignored)%s", envs[i], closest == NULL ? "" :
			  t_strdup_printf(" - did you mean %s?", closest));
	}
}

static void fts_sift_mail_user_deinit(struct mail_user *user)
{
	struct fts_sift_user *fuser = FTS_SIFT_USER_CONTEXT_REQUIRE(user);

	fts_mail_user_deinit(user);
	fuser->module_ctx.super.deinit(user);
}

bool fts_sift_user_uses_sift(struct mail_user *user)
{
	return null_strcmp(mail_user_plugin_getenv(user, "fts"),
			   fts_backend_sift.name) == 0;
}

void fts_sift_mail_user_created(struct mail_user *user)
{
	struct mail_user_vfuncs *v = user->vlast;
	struct fts_sift_user *fuser;
	const char *error;

	fuser = p_new(user->pool, struct fts_sift_user, 1);
	if (null_strcmp(mail_user_plugin_getenv(user, "fts"),
			fts_backend_sift.name) == 0)
		sift_warn_unknown_settings(user);
	/* A bad setting is never replaced by a guessed value: it turns
	   full-text search off for this user (the backend refuses every
	   call with this error, so searches fail under fts_enforced and
	   are scanned by Dovecot without it).  Login, LMTP delivery and
	   everything else go on: one typo must not stop the mail. */
	if (fts_sift_settings_read(user, &fuser->set, &error) < 0) {
		fuser->set_error = p_strdup_printf(user->pool,
			"%s - full-text search is disabled for this user "
			"until it is fixed", error);
		e_error(user->event, "fts-sift: %s", fuser->set_error);
	}
	if (sift_fts_mail_user_init(user, &error) < 0) {
		user->error = p_strdup_printf(user->pool, "fts-sift: %s",
					      error);
		return;
	}
	fuser->module_ctx.super = *v;
	user->vlast = &fuser->module_ctx.super;
	v->deinit = fts_sift_mail_user_deinit;
	MODULE_CONTEXT_SET(user, fts_sift_user_module, fuser);

	/* SEARCH=FUZZY.  The backend's FTS_BACKEND_FLAG_FUZZY_SEARCH sets
	   user->fuzzy_search only when the fts plugin initializes the
	   namespaces' backends, and Dovecot 2.3's imap builds its
	   capability list before that (client_create() checks the flag,
	   client_create_finish() then creates the namespaces), so the flag
	   alone never shows.  Here, at user creation, is before.  Should a
	   backend fail to initialize later, FUZZY keys are still answered
	   exactly, by Dovecot, which RFC 6203 allows. */
	if (null_strcmp(mail_user_plugin_getenv(user, "fts"),
			fts_backend_sift.name) == 0)
		user->fuzzy_search = TRUE;
}

int fts_sift_backend_user_init(struct fts_backend *backend,
			       struct event **event_r,
			       const struct fts_sift_settings **set_r,
			       const char **set_error_r,
			       const char **error_r)
{
	struct mail_user *user = backend->ns->user;
	struct fts_sift_user *fuser = FTS_SIFT_USER_CONTEXT(user);
	struct event *event;

	if (fuser == NULL) {
		*error_r = "fts-sift: the fts_sift plugin is not loaded for "
			"this user (add it to mail_plugins)";
		return -1;
	}
	event = event_create(user->event);
	event_add_category(event, &event_category_fts_sift);
	event_set_append_log_prefix(event, "fts-sift: ");
	*event_r = event;
	*set_r = &fuser->set;
	*set_error_r = fuser->set_error;
	return 0;
}

int fts_sift_backend_header_lists(struct fts_backend *backend,
				  const char **includes_r,
				  const char **excludes_r,
				  const char **error_r ATTR_UNUSED)
{
	struct mail_user *user = backend->ns->user;

	*includes_r = mail_user_plugin_getenv(user, "fts_header_includes");
	*excludes_r = mail_user_plugin_getenv(user, "fts_header_excludes");
	return 0;
}

void fts_sift_backend_user_deinit(struct event **event,
				  const struct fts_sift_settings **set)
{
	/* the settings belong to the user */
	*set = NULL;
	event_unref(event);
}
