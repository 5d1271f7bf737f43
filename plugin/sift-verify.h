/* sift-verify: find messages whose headers Dovecot's own search reads
   differently from what the fts plugin hands to the index.  Their
   documents are flagged so that searches let Dovecot check them instead
   of trusting the index. */
#ifndef SIFT_VERIFY_H
#define SIFT_VERIFY_H

struct istream;

/* Read a message's top-level header from input and return TRUE if the
   index can't answer header or TEXT searches for it exactly.  Returns
   FALSE also when the header can't be read (nothing to distrust). */
bool sift_verify_header_differs(struct istream *input);

#endif
