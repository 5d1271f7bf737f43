/* sift-acl.c: the read-right check of searches and indexing.

   Soft dependency on the acl plugin: its symbols are looked up in the
   process (dlsym) at every check.  When lib01_acl_plugin.so is not loaded
   (acl not in mail_plugins) they are missing and every mailbox counts as
   readable, which is Dovecot's own behaviour without ACLs.  Not weak
   references: those are bound once, when this plugin is loaded, and in a
   process that serves several users (lmtp, indexer-worker, doveadm -A)
   the acl plugin may be loaded only later, for another user - the check
   would then stay off.

   The acl plugin's lookup functions use *_CONTEXT_REQUIRE and panic on a
   mailbox without an acl context, which is the case when the namespace
   has no ACLs (acl plugin loaded but no "acl =" setting, or a namespace
   it skips).  So the acl context is tested first: no context means no
   ACLs to enforce. */
#include "lib.h"
#include "mail-storage-private.h"
#include "acl-plugin.h"
#include "acl-api-private.h"
#include "acl-cache.h"
#include "sift-compat.h"
#include "sift-acl.h"

#include <dlfcn.h>

struct sift_acl_api {
	struct acl_storage_module *module;
	typeof(&acl_mailbox_right_lookup) right_lookup;
	typeof(&acl_mailbox_get_aclobj) get_aclobj;
	typeof(&acl_cache_flush) cache_flush;
};

/* The acl plugin's entry points, if it is loaded in this process. */
static bool sift_acl_api_get(struct sift_acl_api *api_r)
{
	api_r->module = dlsym(RTLD_DEFAULT, "acl_storage_module");
	api_r->right_lookup = dlsym(RTLD_DEFAULT, "acl_mailbox_right_lookup");
	api_r->get_aclobj = dlsym(RTLD_DEFAULT, "acl_mailbox_get_aclobj");
	api_r->cache_flush = dlsym(RTLD_DEFAULT, "acl_cache_flush");
	return api_r->module != NULL && api_r->right_lookup != NULL;
}

/* Forget what this process cached of box's ACL, so that the next lookup
   re-reads it (vfile: stat + read of dovecot-acl, a few microseconds). */
static void sift_acl_flush_cache(const struct sift_acl_api *api,
				 struct mailbox *box)
{
	struct acl_object *aclobj;
	struct acl_cache *cache;

	if (api->get_aclobj == NULL || api->cache_flush == NULL)
		return;
	aclobj = api->get_aclobj(box);
	if (aclobj == NULL)
		return;
	/* (the acl plugin's private structs: see sift-compat.h) */
	cache = sift_compat_acl_object_cache(aclobj);
	if (cache != NULL)
		api->cache_flush(cache, sift_compat_acl_object_name(aclobj));
}

enum sift_acl_result sift_acl_can_read(struct mailbox *box,
				       const char **error_r)
{
	struct sift_acl_api api;
	int ret;

	*error_r = NULL;
	if ((box->flags & MAILBOX_FLAG_IGNORE_ACLS) != 0) {
		/* an administrator's access (doveadm) */
		return SIFT_ACL_ALLOWED;
	}
	if (!sift_acl_api_get(&api)) {
		/* the acl plugin isn't loaded */
		return SIFT_ACL_ALLOWED;
	}
	if (MODULE_CONTEXT(box, *api.module) == NULL) {
		/* no ACLs for this mailbox's namespace */
		return SIFT_ACL_ALLOWED;
	}

	sift_acl_flush_cache(&api, box);
	/* the lookup sets the storage error on denial; searches and indexing
	   of other mailboxes must not see it */
	mail_storage_last_error_push(box->storage);
	ret = api.right_lookup(box, ACL_STORAGE_RIGHT_READ);
	if (ret < 0) {
		*error_r = t_strdup_printf(
			"Looking up the ACL of mailbox %s failed: %s",
			mailbox_get_vname(box),
			mailbox_get_last_internal_error(box, NULL));
	}
	mail_storage_last_error_pop(box->storage);
	if (ret < 0)
		return SIFT_ACL_ERROR;
	return ret > 0 ? SIFT_ACL_ALLOWED : SIFT_ACL_DENIED;
}
