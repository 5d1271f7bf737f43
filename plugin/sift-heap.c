/* sift-heap.c: see sift-heap.h */
#include "lib.h"
#include "sift-heap.h"

#ifdef __GLIBC__
#  include <malloc.h>
#endif

void sift_heap_release(struct event *event, const char *what)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || \
	(__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	struct mallinfo2 before, after;

	before = mallinfo2();
	(void)malloc_trim(0);
	after = mallinfo2();
	/* arena: the heap's size; uordblks: in use; fordblks: free;
	   hblkhd: mmap()ed blocks (each returned on free) */
	e_debug(event, "Heap after %s: %zu KB in use, %zu KB free of a "
		"%zu KB heap, %zu KB in mapped blocks; free pages "
		"released (keepcost %zu -> %zu KB)", what,
		after.uordblks / 1024, after.fordblks / 1024,
		after.arena / 1024, after.hblkhd / 1024,
		before.keepcost / 1024, after.keepcost / 1024);
#elif defined(__GLIBC__)
	(void)malloc_trim(0);
	e_debug(event, "Heap after %s: free pages released", what);
#else
	(void)event;
	(void)what;
#endif
}
