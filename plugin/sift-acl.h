/* sift-acl: may the session user read a mailbox?  Asked of Dovecot's acl
   plugin when it is loaded, without making it a dependency. */
#ifndef SIFT_ACL_H
#define SIFT_ACL_H

struct mailbox;

enum sift_acl_result {
	/* the rights couldn't be looked up (error_r says why) */
	SIFT_ACL_ERROR = -1,
	/* the session user lacks the right */
	SIFT_ACL_DENIED = 0,
	SIFT_ACL_ALLOWED = 1,
};

/* Does box's session user (box->storage->user: the searching or indexing
   user, also for shared/<owner>/ mailboxes) have the IMAP read right ("r")
   on box, right now?

   ALLOWED without looking anything up when the box was opened with
   MAILBOX_FLAG_IGNORE_ACLS (doveadm), when the acl plugin is not loaded,
   or when it keeps no ACLs for the box's namespace.  Otherwise the rights
   are read fresh: the acl plugin's per-process cache of this mailbox's ACL
   is dropped first, so a SETACL/DELETEACL made by any process counts at
   the next call (the vfile backend would otherwise keep using what it read
   for acl_cache_secs, 30 s by default).

   Never changes box's last storage error.  The result must not be cached
   by the caller across searches. */
enum sift_acl_result sift_acl_can_read(struct mailbox *box,
				       const char **error_r);

#endif
