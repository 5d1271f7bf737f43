/* sift-acl.c: the read-right check of searches and indexing.

   Soft dependency on the acl plugin.  The plugin's symbols are declared
   weak: when lib01_acl_plugin.so is not loaded (acl not in mail_plugins)
   they resolve to NULL and every mailbox counts as readable, which is
   Dovecot's own behaviour without ACLs.  When it is loaded it was
   dlopen()ed with RTLD_GLOBAL before us (lib01 < lib21), so the weak
   references bind to it.

   The acl plugin's lookup functions use *_CONTEXT_REQUIRE and panic on a
   mailbox without an acl context, which is the case when the namespace
   has no ACLs (acl plugin loaded but no "acl =" setting, or a namespace
   it skips).  So ACL_CONTEXT(box) is tested first: no context means no
   ACLs to enforce. */
#include "lib.h"
#include "mail-storage-private.h"
#include "acl-plugin.h"
#include "acl-api-private.h"
#include "acl-cache.h"
#include "sift-acl.h"

#pragma weak acl_storage_module
#pragma weak acl_mailbox_right_lookup
#pragma weak acl_mailbox_get_aclobj
#pragma weak acl_cache_flush

/* Forget what this process cached of box's ACL, so that the next lookup
   re-reads it (vfile: stat + read of dovecot-acl, a few microseconds). */
static void sift_acl_flush_cache(struct mailbox *box)
{
	struct acl_object *aclobj;

	if (acl_mailbox_get_aclobj == NULL || acl_cache_flush == NULL)
		return;
	aclobj = acl_mailbox_get_aclobj(box);
	if (aclobj != NULL && aclobj->backend != NULL &&
	    aclobj->backend->cache != NULL)
		acl_cache_flush(aclobj->backend->cache, aclobj->name);
}

enum sift_acl_result sift_acl_can_read(struct mailbox *box,
				       const char **error_r)
{
	enum mail_error error;
	int ret;

	*error_r = NULL;
	if ((box->flags & MAILBOX_FLAG_IGNORE_ACLS) != 0) {
		/* an administrator's access (doveadm) */
		return SIFT_ACL_ALLOWED;
	}
	if (&acl_storage_module == NULL || acl_mailbox_right_lookup == NULL) {
		/* the acl plugin isn't loaded */
		return SIFT_ACL_ALLOWED;
	}
	if (ACL_CONTEXT(box) == NULL) {
		/* no ACLs for this mailbox's namespace */
		return SIFT_ACL_ALLOWED;
	}

	sift_acl_flush_cache(box);
	/* the lookup sets the storage error on denial; searches and indexing
	   of other mailboxes must not see it */
	mail_storage_last_error_push(box->storage);
	ret = acl_mailbox_right_lookup(box, ACL_STORAGE_RIGHT_READ);
	if (ret < 0) {
		*error_r = t_strdup_printf(
			"Looking up the ACL of mailbox %s failed: %s",
			mailbox_get_vname(box),
			mailbox_get_last_internal_error(box, &error));
	}
	mail_storage_last_error_pop(box->storage);
	if (ret < 0)
		return SIFT_ACL_ERROR;
	return ret > 0 ? SIFT_ACL_ALLOWED : SIFT_ACL_DENIED;
}
