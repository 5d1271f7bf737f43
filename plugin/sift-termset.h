/* sift-termset: the distinct terms of the document being built.

   A message repeats most of its words ("the" fifty times, "+" in every
   line of a patch).  Handing each repeat to Xapian costs a std::string
   and a std::map lookup; filtering them out here first, with one hash
   and a memcmp, roughly halves the number of calls into Xapian. */
#ifndef SIFT_TERMSET_H
#define SIFT_TERMSET_H

struct sift_termset;

struct sift_termset *sift_termset_new(void);
void sift_termset_free(struct sift_termset **set);
/* Forget every term (constant time). */
void sift_termset_clear(struct sift_termset *set);
/* Add the term (any bytes); TRUE if it was not in the set yet. */
bool sift_termset_add(struct sift_termset *set, const void *data, size_t len);

#endif
