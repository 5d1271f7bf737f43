/* libFuzzer harness: the side-file readers (sift-record, sift-termfiles,
   sift-phrase-filter) and the parser of their committed state.

   The input is written as the terms, opaque and gaps files of an index
   whose committed state claims the whole file with the generation found
   in its header (so that inputs with a valid header reach the record
   walk and the scans); a second state is parsed from the input's first
   line.  Readers must accept or reject, never crash or read outside the
   file; whatever they accept must scan without fault. */
#include "lib.h"
#include "array.h"
#include "seq-range-array.h"
#include "sift-termfiles.h"
#include "sift-phrase-filter.h"
#include "sift-record.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* in memory if possible: every input writes three files */
static char dir[] = "/dev/shm/fuzz-sidefiles.XXXXXX";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void remove_dir(void)
{
	static const char *const names[] = {
		"terms", "opaque", "gaps", "terms.tmp", "opaque.tmp", "gaps.tmp",
	};
	char path[sizeof(dir) + 16];

	for (unsigned int i = 0; i < N_ELEMENTS(names); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc ATTR_UNUSED, char ***argv ATTR_UNUSED)
{
	lib_init();
	if (mkdtemp(dir) == NULL && (strcpy(dir, "/tmp/fuzz-sidefiles.XXXXXX"),
				     mkdtemp(dir) == NULL))
		i_fatal("mkdtemp failed: %m");
	atexit(remove_dir);
	return 0;
}

static void write_file(const char *name, const uint8_t *data, size_t size)
{
	const char *path = t_strdup_printf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");

	if (f == NULL)
		i_fatal("fopen(%s): %m", path);
	if (size > 0 && fwrite(data, 1, size, f) != size)
		i_fatal("fwrite(%s): %m", path);
	fclose(f);
}

/* Write name from the input, in one of three ways (mode): the input as
   the whole file; a valid header followed by the input's bytes; a valid
   header followed by the input cut into valid records (a length byte,
   then that many bytes), so that the payload parsers see anything.
   *st_r is a committed state claiming the whole file. */
static void write_side_file(const char *name, unsigned int mode,
			    const uint8_t *data, size_t size,
			    struct sift_file_state *st_r)
{
	const char *path = t_strdup_printf("%s/%s", dir, name);
	struct sift_wfile *file;
	const char *error;

	if (mode == 0) {
		write_file(name, data, size);
		st_r->gen = 1;
		if (size >= 32)
			memcpy(&st_r->gen, data + 16, sizeof(st_r->gen));
		if (st_r->gen == 0)
			st_r->gen = 1;
		st_r->len = size;
		return;
	}
	if (sift_wfile_replace_begin(path, name, 0600, &file, &error) < 0)
		i_fatal("%s", error);
	if (mode == 1) {
		FILE *f;

		if (sift_wfile_replace_end(file, TRUE, &error) < 0)
			i_fatal("%s", error);
		sift_wfile_state(file, st_r);
		sift_wfile_close(&file);
		f = fopen(path, "a");
		if (f == NULL || (size > 0 && fwrite(data, 1, size, f) != size))
			i_fatal("append %s: %m", path);
		fclose(f);
		st_r->len += size;
		return;
	}
	for (size_t pos = 0; pos < size; ) {
		size_t n = I_MIN((size_t)data[pos], size - pos - 1);

		if (sift_wfile_append(file, data + pos + 1, n, NULL, 0,
				      &error) < 0)
			i_fatal("%s", error);
		pos += 1 + n;
	}
	if (sift_wfile_replace_end(file, TRUE, &error) < 0)
		i_fatal("%s", error);
	sift_wfile_state(file, st_r);
	sift_wfile_close(&file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sift_termfiles_prefix prefixes[] = {
		{ "B", '\0' }, { "A", ':' },
	};
	struct sift_files_state st, parsed;
	struct sift_termfiles *dict;
	struct sift_phrase_filter *gaps;
	const char *error;
	unsigned int mode;

	if (size == 0)
		return 0;
	mode = data[0] % 3;
	data++;
	size--;
	T_BEGIN {
		const char *nl = memchr(data, '\n', size);

		(void)sift_files_state_parse(t_strndup(data, nl == NULL ? size :
						       (size_t)(nl - (const char *)data)),
					     &parsed);
		i_zero(&st);
		write_side_file("terms", mode, data, size, &st.terms);
		write_side_file("opaque", mode, data, size, &st.opaque);
		write_side_file("gaps", mode, data, size, &st.gaps);
		st.terms_complete = TRUE;
		sift_record_forget_verified();
		if (sift_termfiles_open(dir, &st, &dict, &error) > 0) {
			ARRAY_TYPE(sift_termfiles_term) terms;
			ARRAY_TYPE(seq_range) uids;

			t_array_init(&terms, 8);
			t_array_init(&uids, 8);
			sift_termfiles_match_terms(dict, prefixes, 2, "a", 1, &terms);
			sift_termfiles_match_opaque(dict, "1", 1, &uids);
			/* packed records (format 10): a needle spanning two
			   units, whole units, and one no packed text holds */
			sift_termfiles_match_opaque(dict, "1A2B", 4, &uids);
			sift_termfiles_match_opaque(dict, "ABCDEFG", 7, &uids);
			sift_termfiles_match_opaque(dict, "a,", 2, &uids);
			sift_termfiles_close(&dict);
		}
		if (sift_phrase_filter_open(dir, &st.gaps, &gaps, &error) > 0) {
			ARRAY_TYPE(seq_range) uids;
			uint64_t keys[2] = { 0x1234, 0xfedcba9876543210ULL };

			t_array_init(&uids, 8);
			seq_range_array_add_range(&uids, 1, 1000);
			sift_phrase_filter_apply(gaps, keys, 2, &uids);
			sift_phrase_filter_close(&gaps);
		}
	} T_END;
	return 0;
}
