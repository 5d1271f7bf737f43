/* fts-sift-plugin.c: module entry points, the per-user hook and settings. */
#include "lib.h"
#include "array.h"
#include "mail-storage-hooks.h"
#include "fts-api-private.h"
#include "fts-user.h"
#include "sift-compat.h"
#include "fts-sift-plugin.h"

const char *fts_sift_plugin_version = DOVECOT_ABI_VERSION;
const char *fts_sift_plugin_dependencies[] = { "fts", NULL };

struct fts_sift_user_module fts_sift_user_module =
	MODULE_CONTEXT_INIT(&mail_user_module_register);

struct event_category event_category_fts_sift = {
	.parent = &event_category_fts,
	.name = "fts-sift",
};

static const char *sift_user_setting(void *context, const char *key)
{
	return mail_user_plugin_getenv(context, key);
}

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

static void fts_sift_mail_user_created(struct mail_user *user)
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
	if (fts_sift_settings_parse(sift_user_setting, user, &fuser->set,
				    &error) < 0) {
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

static struct mail_storage_hooks fts_sift_mail_storage_hooks = {
	.mail_user_created = fts_sift_mail_user_created,
};

void fts_sift_plugin_init(struct module *module)
{
	fts_backend_register(&fts_backend_sift);
	mail_storage_hooks_add(module, &fts_sift_mail_storage_hooks);
}

void fts_sift_plugin_deinit(void)
{
	fts_backend_unregister(fts_backend_sift.name);
	mail_storage_hooks_remove(&fts_sift_mail_storage_hooks);
}
