/* sift-compat.h: every difference between the Dovecot versions the plugin
   builds against is handled here, keyed off configure's probes; and
   every read of another plugin's private structs, which may change in
   any Dovecot release, goes through here too. */
#ifndef SIFT_COMPAT_H
#define SIFT_COMPAT_H

#include "sift-config.h"

#if SIFT_FTS_USER_INIT_ARGS == 3
#  define sift_fts_mail_user_init(user, error_r) \
	fts_mail_user_init(user, FALSE, error_r)
#else
#  define sift_fts_mail_user_init(user, error_r) \
	fts_mail_user_init(user, error_r)
#endif

/* Plugins that keep the last message's decoded stream (decompressed,
   decrypted) per user and give every mail of that message the one stream,
   seeking it back to the start at each open (their istream_opened: "use
   the cached stream"): found by an entry point (dlsym), see
   fts-sift-msgcopy.c.  2.4 renamed zlib to mail_compress. */
#if SIFT_FTS_USER_INIT_ARGS == 4
#  define SIFT_COMPAT_STREAM_CACHE_PLUGINS \
	"mail_compress_plugin_init", "mail_crypt_plugin_init"
#else
#  define SIFT_COMPAT_STREAM_CACHE_PLUGINS \
	"zlib_plugin_init", "mail_crypt_plugin_init"
#endif

/* The acl plugin's private structs (acl-api-private.h), for sift-acl.c.
   Why read them at all: a search must see a SETACL made by another
   process at once, so sift-acl.c drops the acl plugin's per-process
   cache of the mailbox's ACL before each check, and the plugin exports
   no function for that - acl_cache_flush() wants the backend's cache and
   the object's name, which only struct acl_object and struct
   acl_backend hold.  Their layout is private: the same in 2.3.19 and
   2.4.1 (backend, name first), but nothing promises it.  The module is
   built per Dovecot ABI and Dovecot refuses to load it into another, so
   these read the layout of the headers it was built against; a version
   whose layout moves is handled here, nowhere else.  Defined only where
   the includer has the acl plugin's private header. */
#ifdef ACL_API_PRIVATE_H
static inline struct acl_cache *
sift_compat_acl_object_cache(const struct acl_object *aclobj)
{
	return aclobj->backend == NULL ? NULL : aclobj->backend->cache;
}

static inline const char *
sift_compat_acl_object_name(const struct acl_object *aclobj)
{
	return aclobj->name;
}
#endif

#endif
