/* sift-termset: the distinct terms of the document being built, each with
   its within-document frequency (wdf).

   A message repeats most of its words ("the" fifty times, "+" in every
   line of a patch).  Handing each repeat to Xapian costs a std::string
   and a std::map lookup; counting them here instead, with one hash and a
   memcmp, and handing each distinct term to Xapian once with its count
   (sift_termset_get()) roughly halves the time spent in Xapian. */
#ifndef SIFT_TERMSET_H
#define SIFT_TERMSET_H

struct sift_termset;

struct sift_termset *sift_termset_new(void);
void sift_termset_free(struct sift_termset **set);
/* Forget every term (constant time). */
void sift_termset_clear(struct sift_termset *set);
/* Add the term (any bytes, at most 2^32-1 of them) or, if it is there
   already, add wdf to its count.  wdf 0 only makes the term present (a
   term added only with 0 has wdf 0).  TRUE if the term was not in the set
   yet. */
bool sift_termset_add(struct sift_termset *set, const void *data, size_t len,
		      unsigned int wdf);
/* Number of distinct terms, and the idx'th of them in the order they were
   first added (idx < count).  *data_r is valid until the next add or
   clear. */
unsigned int sift_termset_count(const struct sift_termset *set);
/* The bytes of all distinct terms together. */
size_t sift_termset_bytes(const struct sift_termset *set);
void sift_termset_get(const struct sift_termset *set, unsigned int idx,
		      const void **data_r, size_t *len_r,
		      unsigned int *wdf_r);
/* The set's hash of a term (exposed for the unit test: equal terms hash
   alike, terms that differ in one byte or in length should not). */
uint64_t sift_termset_hash(const void *data, size_t len);

#endif
