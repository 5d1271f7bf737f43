#ifndef DOVEADM_FTS_SIFT_H
#define DOVEADM_FTS_SIFT_H

/* doveadm-fts-sift.h: what differs between Dovecot versions in the doveadm
   module (doveadm-fts-sift.c): how a command receives its positional
   arguments, and where the settings an index's text engine id depends on
   come from.  One implementation per version: doveadm-fts-sift-23.c,
   doveadm-fts-sift-24.c (configure picks one). */

struct doveadm_mail_cmd_context;
struct mail_namespace;

/* The commands' common init, in doveadm-fts-sift.c: args are the mailbox
   masks given (an empty array for none). */
void sift_doveadm_cmd_init(struct doveadm_mail_cmd_context *ctx,
			   const char *const args[]);

/* Make ctx's init call sift_doveadm_cmd_init() with the command's
   "mailbox-mask" arguments. */
void sift_doveadm_set_init(struct doveadm_mail_cmd_context *ctx);

/* The text "doveadm fts tokenize" was given, in a command context that
   Dovecot's own init has seen (NULL if none). */
const char *const *
sift_doveadm_tokenize_args(struct doveadm_mail_cmd_context *ctx);

/* The settings (of the user, for namespace ns) that an index's text engine
   id records: fts_sift_fold_accents, and whether the fts plugin decodes
   attachments.  Returns 0, or -1 with an error. */
int sift_doveadm_text_settings(struct mail_namespace *ns,
			       bool *fold_accents_r, bool *decoded_r,
			       const char **error_r);

#endif
