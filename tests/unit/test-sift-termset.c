/* Unit tests for plugin/sift-termset.c: the per-document set of distinct
   terms and their wdf, checked against a plain list on random terms
   (repeats, shared prefixes, embedded NULs, lengths 0..40 around the
   hash's 8-byte steps, growth past the kept table size and the clear
   that gives it back), and the hash's spread over near-equal terms. */

#include "lib.h"
#include "array.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-termset.h"

struct ref_term {
	unsigned char data[48];
	size_t len;
	unsigned int wdf;
};

static int ref_find(const struct ref_term *terms, unsigned int count,
		    const unsigned char *data, size_t len)
{
	for (unsigned int i = 0; i < count; i++) {
		if (terms[i].len == len && memcmp(terms[i].data, data, len) == 0)
			return (int)i;
	}
	return -1;
}

/* Make a term from a small alphabet (so that repeats and shared
   prefixes are common) with a length around the 8-byte steps. */
static size_t make_term(unsigned char *buf, unsigned int distinct)
{
	size_t len = rng_next() % 41;
	uint32_t r = rng_next() % distinct;

	for (size_t i = 0; i < len; i++) {
		/* mostly a fixed prefix, then bytes from r: many terms
		   share their first bytes, as a family's terms do */
		buf[i] = i < len / 2 ? 'K' : (unsigned char)((r >> (i % 24)) & 3);
	}
	return len;
}

static void test_termset_reference(void)
{
	struct sift_termset *set = sift_termset_new();
	struct ref_term *ref = i_new(struct ref_term, 20000);
	unsigned char buf[48];
	bool ok = TRUE;

	test_begin("sift_termset = plain list (counts, wdf, order, clear)");
	rng_seed(4242);
	for (unsigned int round = 0; round < 6 && ok; round++) {
		/* small documents, and ones that grow the table past the
		   size kept between documents */
		unsigned int adds = round % 2 == 0 ? 300 : 12000;
		unsigned int distinct = round % 2 == 0 ? 50 : 1U << 22;
		unsigned int count = 0;

		for (unsigned int a = 0; a < adds && ok; a++) {
			size_t len = make_term(buf, distinct);
			unsigned int wdf = rng_next() % 3;
			int idx = ref_find(ref, count, buf, len);
			bool added;

			if (count == 20000 && idx < 0)
				continue;
			added = sift_termset_add(set, buf, len, wdf);
			if (added != (idx < 0)) {
				ok = FALSE;
				break;
			}
			if (idx < 0) {
				memcpy(ref[count].data, buf, len);
				ref[count].len = len;
				ref[count].wdf = wdf;
				count++;
			} else {
				ref[idx].wdf += wdf;
			}
		}
		test_assert_idx(ok, round);
		/* the large rounds do pass the kept table size (8192 slots
		   at half load) */
		test_assert_idx(round % 2 == 0 || count > 5000, round);
		test_assert_idx(sift_termset_count(set) == count, round);
		size_t bytes = 0;
		for (unsigned int i = 0; i < count && ok; i++) {
			const void *data;
			size_t len;
			unsigned int wdf;

			sift_termset_get(set, i, &data, &len, &wdf);
			ok = len == ref[i].len && wdf == ref[i].wdf &&
				memcmp(data, ref[i].data, len) == 0;
			bytes += ref[i].len;
			test_assert_idx(ok, i);
		}
		test_assert_idx(sift_termset_bytes(set) == bytes, round);
		sift_termset_clear(set);
		test_assert_idx(sift_termset_count(set) == 0, round);
		test_assert_idx(sift_termset_bytes(set) == 0, round);
		/* a term of the cleared document is new again */
		test_assert_idx(count == 0 ||
				sift_termset_add(set, ref[0].data, ref[0].len, 1),
				round);
		sift_termset_clear(set);
	}
	i_free(ref);
	sift_termset_free(&set);
	test_end();
}

/* Terms that differ in one byte (any position, any bit), or only in
   length (a trailing NUL, a shorter prefix), hash apart: the table then
   probes as a table of distinct keys should. */
static void test_termset_hash(void)
{
	unsigned char a[41], b[41];
	unsigned int collisions = 0;

	test_begin("sift_termset_hash: one-byte and length differences");
	for (size_t len = 0; len <= 40; len++) {
		for (size_t i = 0; i < len; i++)
			a[i] = (unsigned char)('a' + i % 26);
		a[len] = '\0';
		test_assert_idx(sift_termset_hash(a, len) ==
				sift_termset_hash(a, len), len);
		/* one more byte, NUL or not */
		memcpy(b, a, len + 1);
		if (sift_termset_hash(a, len) == sift_termset_hash(b, len + 1))
			collisions++;
		b[len] = 'x';
		if (sift_termset_hash(a, len) == sift_termset_hash(b, len + 1))
			collisions++;
		for (size_t i = 0; i < len; i++) {
			for (unsigned int bit = 0; bit < 8; bit++) {
				memcpy(b, a, len);
				b[i] ^= (unsigned char)(1U << bit);
				if (sift_termset_hash(a, len) ==
				    sift_termset_hash(b, len))
					collisions++;
			}
		}
	}
	test_assert(collisions == 0);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_termset_reference,
		test_termset_hash,
		NULL
	};
	return test_run(test_functions);
}
