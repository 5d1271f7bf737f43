/* sift-decoder: which content types the fts_decoder script converts. */
#ifndef SIFT_DECODER_H
#define SIFT_DECODER_H

struct sift_fts_backend;

/* Does the fts_decoder script (Dovecot's script service named by
   fts_decoder) list content_type among the types it converts?  Dovecot's
   fts plugin asks the script the same question (fts-parser-script.c: the
   script's list, matched exactly, in lower case) before sending it a
   part.  The list is read once per backend.  Returns 1 (listed), 0 (not
   listed), -1 if the list couldn't be read (logged once; the caller must
   not assume either). */
int sift_decoder_lists_type(struct sift_fts_backend *backend,
			    const char *content_type);
void sift_decoder_deinit(struct sift_fts_backend *backend);

#endif
