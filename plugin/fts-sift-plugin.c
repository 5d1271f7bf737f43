/* fts-sift-plugin.c: module entry points.  The per-user setup, which
   differs between Dovecot versions, is in fts-sift-user-2x.c. */
#include "lib.h"
#include "mail-storage-hooks.h"
#include "mail-namespace.h"
#include "mail-storage-private.h"
#include "mailbox-list.h"
#include "fts-api-private.h"
#include "fts-sift-user.h"
#include "fts-sift-plugin.h"
#include "fts-sift-walk.h"
#include "fts-sift-msgcopy.h"
#include "fts-sift-delete.h"
#include "sift-file.h"

const char *fts_sift_plugin_version = DOVECOT_ABI_VERSION;
const char *fts_sift_plugin_dependencies[] = { "fts", NULL };

struct event_category event_category_fts_sift = {
	.parent = &event_category_fts,
	.name = "fts-sift",
};

/* A namespace without index files (INDEX=MEMORY, 2.4: mail_index_path =
   MEMORY) has nowhere to keep a full-text index: the fts plugin then
   leaves the namespace alone (no backend; only a debug line), and its
   searches are Dovecot's own, exact but reading every message.  Say so
   once per process, for users whose fts driver is sift.

   A shared namespace whose location names the owner (%%h, %%u; 2.4:
   $user) is a template here: its list has no root path because there
   is no owner yet, and each owner's mailboxes get a namespace of their
   own (autocreated, with the owner's index path) when they are used.
   The template is no namespace without index files (the line said so
   on every login of a user with shared folders, while their searches
   used the owners' indexes). */
static void fts_sift_mail_namespaces_created(struct mail_namespace *namespaces)
{
	static bool logged = FALSE;
	struct mail_namespace *ns;
	const char *path;

	if (logged || namespaces == NULL ||
	    !fts_sift_user_uses_sift(namespaces->user))
		return;
	for (ns = namespaces; ns != NULL; ns = ns->next) {
		if (ns->list == NULL || (ns->flags & NAMESPACE_FLAG_UNUSABLE) != 0)
			continue;
		if (ns->storage != NULL &&
		    strcmp(ns->storage->name, MAIL_SHARED_STORAGE_NAME) == 0)
			continue;
		if (mailbox_list_get_root_path(ns->list,
				MAILBOX_LIST_PATH_TYPE_INDEX, &path))
			continue;
		e_info(ns->user->event, "fts-sift: Namespace '%s' keeps no "
		       "index files (in-memory indexes): no full-text index "
		       "there, its searches are Dovecot's own (exact, but "
		       "each reads every message)", ns->prefix);
		logged = TRUE;
	}
}

/* the user setup's hook; what it does differs between Dovecot versions
   (fts-sift-user-23.c, fts-sift-user-24.c) */
static struct mail_storage_hooks fts_sift_user_hooks = {
	.mail_user_created = fts_sift_mail_user_created,
	.mail_namespaces_created = fts_sift_mail_namespaces_created,
};

void fts_sift_plugin_init(struct module *module)
{
	fts_backend_register(&fts_backend_sift);
	mail_storage_hooks_add(module, &fts_sift_user_hooks);
	fts_sift_walk_hooks_add(module);
	fts_sift_msgcopy_hooks_add(module);
	fts_sift_delete_hooks_add(module);
}

void fts_sift_plugin_deinit(void)
{
	fts_backend_unregister(fts_backend_sift.name);
	fts_sift_delete_hooks_remove();
	fts_sift_msgcopy_hooks_remove();
	fts_sift_walk_hooks_remove();
	mail_storage_hooks_remove(&fts_sift_user_hooks);
	sift_map_spares_free();
}
