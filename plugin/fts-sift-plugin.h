#ifndef FTS_SIFT_PLUGIN_H
#define FTS_SIFT_PLUGIN_H

#include "module-context.h"
#include "mail-user.h"
#include "fts-sift-settings.h"

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

extern MODULE_CONTEXT_DEFINE(fts_sift_user_module, &mail_user_module_register);
extern struct fts_backend fts_backend_sift;
extern struct event_category event_category_fts_sift;

extern const char *fts_sift_plugin_version;
extern const char *fts_sift_plugin_dependencies[];

void fts_sift_plugin_init(struct module *module);
void fts_sift_plugin_deinit(void);

#endif
