/* sift-swap: put a new copy of a directory in place of the old one, as
   compaction does with a mailbox's index (sift-index-compact.c).  Plain C over
   libc (no Dovecot mail types); unit-tested, both ways it can go
   (tests/unit/test-sift-swap.c). */
#ifndef SIFT_SWAP_H
#define SIFT_SWAP_H

#include <stdbool.h>

/* Put the directory new_path in place of path.  Returns 1 when the old
   copy is left at new_path (the caller removes it), 0 when it was removed
   already, -1 with error_r when nothing changed (or, if even putting the
   old copy back failed, error_r says so and where it is).

   With renameat2(RENAME_EXCHANGE) (Linux 3.15+, found by configure) the
   two are swapped atomically: whoever opens path gets one copy or the
   other.  Without it, or where the filesystem can't exchange (EINVAL,
   e.g. NFS; ENOSYS), it renames path to path.old and new_path to path:
   in between a reader finds no index and leaves its search to Dovecot,
   and a crash there leaves none either, so it is rebuilt - slower, never
   wrong.  force_renames takes that way always (for the unit test). */
int sift_swap_dirs(const char *new_path, const char *path,
		   bool force_renames, const char **error_r);

#endif
