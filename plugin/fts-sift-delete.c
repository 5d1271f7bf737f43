/* fts-sift-delete.c: a DELETE of a mailbox removes its fts-sift/ index.

   Why: a DELETE of a mailbox whose index directory is not the mailbox's
   own directory removes Dovecot's index files from it but not the
   plugin's fts-sift/ beside them (nor the directory, then not empty):
   mbox (.imap/<name>/), and every format with INDEX= elsewhere
   (maildir: <INDEX>/.<name>/); and where it is the mailbox's own
   directory, Dovecot may keep the directory because of it (maildir
   LAYOUT=fs).  A mailbox created again under the name found the old
   index, which its UIDVALIDITY check rebuilt (with a warning) at the
   first use, and every deleted mailbox's index stayed on disk until
   then.  So the delete removes it too, for every mailbox fts-sift
   indexes, whatever its format. */
#include "lib.h"
#include "unlink-directory.h"
#include "mail-storage-private.h"
#include "mail-storage-hooks.h"
#include "fts-api-private.h"
#include "fts-storage.h"
#include "fts-sift-plugin.h"
#include "sift-index.h"
#include "fts-sift-delete.h"

#include <unistd.h>

#define SIFT_DELETE_CONTEXT(obj) \
	MODULE_CONTEXT(obj, sift_delete_storage_module)

static MODULE_CONTEXT_DEFINE_INIT(sift_delete_storage_module,
				  &mail_storage_module_register);

static int sift_delete_box(struct mailbox *box)
{
	union mailbox_module_context *dctx = SIFT_DELETE_CONTEXT(box);
	const char *path = NULL, *slash, *error;
	enum unlink_directory_flags flags = UNLINK_DIRECTORY_FLAG_RMDIR;

	/* (the path while the mailbox still exists) */
	if (sift_index_path(box, &path) <= 0)
		path = NULL;
	else
		path = t_strdup(path);
	/* (not before: Dovecot expunges the mailbox's messages first, and
	   the fts plugin's expunges open the index again) */
	if (dctx->super.delete_box(box) < 0)
		return -1;
	if (path == NULL)
		return 0;
	if (unlink_directory(path, flags, &error) < 0 && errno != ENOENT) {
		e_warning(box->event, "fts-sift: Couldn't remove the index "
			  "of the deleted mailbox: %s", error);
		return 0;
	}
	/* the directory Dovecot emptied but could not remove because of
	   fts-sift/ (.imap/<name>, <INDEX>/.<name>, maildir LAYOUT=fs's
	   <name>/); one that still holds anything (a child mailbox) stays */
	slash = strrchr(path, '/');
	if (slash != NULL && rmdir(t_strdup_until(path, slash)) < 0 &&
	    errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST) {
		e_debug(box->event, "fts-sift: rmdir of the deleted mailbox's "
			"index directory failed: %m");
	}
	return 0;
}

static void sift_delete_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct fts_backend *backend = fts_list_backend(box->list);
	union mailbox_module_context *dctx;

	/* only the mailboxes whose fts backend is sift have an index */
	if (backend == NULL || strcmp(backend->name, fts_backend_sift.name) != 0)
		return;
	dctx = p_new(box->pool, union mailbox_module_context, 1);
	dctx->super = *v;
	box->vlast = &dctx->super;
	v->delete_box = sift_delete_box;
	MODULE_CONTEXT_SET_SELF(box, sift_delete_storage_module, dctx);
}

static struct mail_storage_hooks sift_delete_hooks = {
	.mailbox_allocated = sift_delete_mailbox_allocated,
};

void fts_sift_delete_hooks_add(struct module *module)
{
	mail_storage_hooks_add(module, &sift_delete_hooks);
}

void fts_sift_delete_hooks_remove(void)
{
	mail_storage_hooks_remove(&sift_delete_hooks);
}
