/* sift-html: index HTML body parts as Dovecot's own search reads them. */
#ifndef SIFT_HTML_H
#define SIFT_HTML_H

struct istream;
struct sift_index;

/* Parse the message in input and add the body of each part that starts
   at one of the given physical offsets (message_part.physical_pos) to the
   current document of index as body text: transfer-decoded and converted
   to UTF-8 exactly as Dovecot's search (message-search.c) reads it, tags,
   attributes, comments and entities as written.  The parts must be text
   parts (text/html).  Returns 0, or -1 with *error_r if the message
   couldn't be read or the index failed (the document may then hold part
   of the text: the caller must not trust it). */
int sift_html_index_parts(struct sift_index *index, struct istream *input,
			  const uoff_t *positions, unsigned int count,
			  const char **error_r);

#endif
