/* sift-hdrfilter.c: the fts core's header selection (see the header). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sift-hdrfilter.h"

struct sift_hdrfilter {
	char **includes, **excludes;
	unsigned int include_count, exclude_count;
	/* an exclude entry starts with '*' */
	bool exclude_all;
	char *id;
};

static int cmp_strp(const void *p1, const void *p2)
{
	const char *const *s1 = p1, *const *s2 = p2;

	return strcmp(*s1, *s2);
}

/* The core's header_prefix_cmp(): equal up to the item's trailing '*'
   counts as a match, otherwise strcmp() order. */
static int cmp_prefix(const void *pkey, const void *pitem)
{
	const char *key = *(const char *const *)pkey;
	const char *item = *(const char *const *)pitem;

	while (*key == *item && *key != '\0') {
		key++;
		item++;
	}
	return item[0] == '*' && item[1] == '\0' ? 0 :
		(unsigned char)*key - (unsigned char)*item;
}

static char *ascii_lcase_dup(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		d[i] = c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
	}
	d[len] = '\0';
	return d;
}

/* Split value at spaces (only ' ', as the core's p_strsplit_spaces(str,
   " ")), lowercase, stop after an entry that starts with '*', sort.
   Returns 0 or -1 (out of memory). */
static int parse_list(const char *value, char ***list_r,
		      unsigned int *count_r, bool *match_all_r)
{
	const char *p = value, *end;
	unsigned int count = 0, alloc = 0;
	char **list = NULL;

	*match_all_r = false;
	while (p != NULL && *p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
		if (count == alloc) {
			char **n;

			alloc = alloc == 0 ? 8 : alloc * 2;
			n = realloc(list, alloc * sizeof(*list));
			if (n == NULL)
				goto fail;
			list = n;
		}
		list[count] = ascii_lcase_dup(p, end - p);
		if (list[count] == NULL)
			goto fail;
		if (list[count++][0] == '*') {
			*match_all_r = true;
			break;
		}
		p = end;
	}
	if (count > 0)
		qsort(list, count, sizeof(*list), cmp_strp);
	*list_r = list;
	*count_r = count;
	return 0;
fail:
	while (count > 0)
		free(list[--count]);
	free(list);
	return -1;
}

static size_t list_len(char **list, unsigned int count)
{
	size_t len = 0;

	for (unsigned int i = 0; i < count; i++)
		len += strlen(list[i]) + 1;
	return len;
}

static void list_append(char *dest, char **list, unsigned int count)
{
	for (unsigned int i = 0; i < count; i++) {
		strcat(dest, " ");
		strcat(dest, list[i]);
	}
}

struct sift_hdrfilter *sift_hdrfilter_new(const char *includes,
					  const char *excludes)
{
	struct sift_hdrfilter *f = calloc(1, sizeof(*f));
	bool ignored;
	size_t len;

	if (f == NULL)
		return NULL;
	if (parse_list(includes, &f->includes, &f->include_count,
		       &ignored) < 0 ||
	    parse_list(excludes, &f->excludes, &f->exclude_count,
		       &f->exclude_all) < 0) {
		sift_hdrfilter_free(&f);
		return NULL;
	}
	/* "includes: a b; excludes: c d", or "" when nothing is left out
	   (includes alone change nothing) */
	len = list_len(f->includes, f->include_count) +
		list_len(f->excludes, f->exclude_count) + 32;
	f->id = malloc(len);
	if (f->id == NULL) {
		sift_hdrfilter_free(&f);
		return NULL;
	}
	f->id[0] = '\0';
	if (sift_hdrfilter_excludes_any(f)) {
		strcpy(f->id, "includes:");
		list_append(f->id, f->includes, f->include_count);
		strcat(f->id, "; excludes:");
		list_append(f->id, f->excludes, f->exclude_count);
	}
	return f;
}

void sift_hdrfilter_free(struct sift_hdrfilter **filter)
{
	struct sift_hdrfilter *f = *filter;

	if (f == NULL)
		return;
	*filter = NULL;
	for (unsigned int i = 0; i < f->include_count; i++)
		free(f->includes[i]);
	for (unsigned int i = 0; i < f->exclude_count; i++)
		free(f->excludes[i]);
	free(f->includes);
	free(f->excludes);
	free(f->id);
	free(f);
}

bool sift_hdrfilter_wants(const struct sift_hdrfilter *f, const char *name)
{
	char *key;
	bool wanted;

	if (!sift_hdrfilter_excludes_any(f))
		return true;
	key = ascii_lcase_dup(name, strlen(name));
	if (key == NULL) {
		/* can't tell: say no, which only leaves more to Dovecot */
		return false;
	}
	if (f->include_count > 0 &&
	    bsearch(&key, f->includes, f->include_count, sizeof(char *),
		    cmp_prefix) != NULL)
		wanted = true;
	else if (f->exclude_all)
		wanted = false;
	else
		wanted = bsearch(&key, f->excludes, f->exclude_count,
				 sizeof(char *), cmp_prefix) == NULL;
	free(key);
	return wanted;
}

bool sift_hdrfilter_excludes_any(const struct sift_hdrfilter *f)
{
	return f != NULL && (f->exclude_all || f->exclude_count > 0);
}

const char *sift_hdrfilter_id(const struct sift_hdrfilter *f)
{
	return f == NULL ? "" : f->id;
}
