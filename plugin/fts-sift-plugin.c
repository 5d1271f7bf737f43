/* fts-sift-plugin.c: module entry points.  The per-user setup, which
   differs between Dovecot versions, is in fts-sift-user-2x.c. */
#include "lib.h"
#include "mail-storage-hooks.h"
#include "fts-api-private.h"
#include "fts-sift-user.h"
#include "fts-sift-plugin.h"
#include "fts-sift-walk.h"
#include "fts-sift-mbox.h"
#include "sift-file.h"

const char *fts_sift_plugin_version = DOVECOT_ABI_VERSION;
const char *fts_sift_plugin_dependencies[] = { "fts", NULL };

struct event_category event_category_fts_sift = {
	.parent = &event_category_fts,
	.name = "fts-sift",
};

/* the user setup's hook; what it does differs between Dovecot versions
   (fts-sift-user-23.c, fts-sift-user-24.c) */
static struct mail_storage_hooks fts_sift_user_hooks = {
	.mail_user_created = fts_sift_mail_user_created,
};

void fts_sift_plugin_init(struct module *module)
{
	fts_backend_register(&fts_backend_sift);
	mail_storage_hooks_add(module, &fts_sift_user_hooks);
	fts_sift_walk_hooks_add(module);
	fts_sift_mbox_hooks_add(module);
}

void fts_sift_plugin_deinit(void)
{
	fts_backend_unregister(fts_backend_sift.name);
	fts_sift_mbox_hooks_remove();
	fts_sift_walk_hooks_remove();
	mail_storage_hooks_remove(&fts_sift_user_hooks);
	sift_map_spares_free();
}
