/* sift-heap: hand the C library's free heap memory back to the kernel
   when the writer has freed its large transient allocations (the end of
   an indexing run, a compaction), so a process that lives on after a
   run (an indexer-worker, an imap process) holds what it uses, not the
   most the run ever held.

   Why: glibc's malloc returns freed memory to the kernel only from the
   top of the heap (M_TRIM_THRESHOLD).  A commit frees Xapian's buffered
   postings of a whole batch (tens of thousands of small allocations)
   while smaller long-lived ones sit above them, so the freed pages stay
   resident: measured on 100,000 list messages, `doveadm index` stayed at
   about 38 MB of anonymous memory between commits, where after
   malloc_trim(0) (which also releases free pages inside the heap,
   madvise(MADV_DONTNEED)) 5-6 MB were in use.

   Not after every commit: that lowered the level during a run (median
   RSS 53 -> 38 MB at 100k) but not its peak (reached inside a batch,
   whose pages are faulted in again), and the page faults and madvise()
   calls cost CPU on every batch (bench.py at 100k: 127.8 against 106.0
   CPU s).  Without glibc it does
   nothing. */
#ifndef SIFT_HEAP_H
#define SIFT_HEAP_H

/* Give free heap pages back; e_debug()s the heap's use after it (what:
   the occasion, e.g. "a compaction"). */
void sift_heap_release(struct event *event, const char *what);

#endif
