/* sift-heap: hand the C library's free heap memory back to the kernel
   after the writer's large transient allocations (a commit's batch, a
   merge), so a long indexing run's resident memory follows what it
   holds, not the most it ever held.

   Why: glibc's malloc returns freed memory to the kernel only from the
   top of the heap (M_TRIM_THRESHOLD).  A commit frees Xapian's buffered
   postings of a whole batch (tens of thousands of small allocations)
   while smaller long-lived ones sit above them, so the freed pages stay
   resident: measured on 100,000 list messages, the run's anonymous
   memory stayed at 39 MB between commits where malloc_trim(0) (which
   also releases free pages inside the heap, madvise(MADV_DONTNEED))
   brought it to 21 MB.  A large message's document (about 20 MB of
   terms for a 790 KB patch) then came on top of that level.

   Trimming walks the free chunks: well under a millisecond per MB of
   heap, once per commit (every fts_sift_commit_batch messages), which
   is noise next to the commit itself.  Without glibc it does nothing. */
#ifndef SIFT_HEAP_H
#define SIFT_HEAP_H

/* Give free heap pages back; e_debug()s the heap's use before and
   after (what: the occasion, e.g. "commit"). */
void sift_heap_release(struct event *event, const char *what);

#endif
