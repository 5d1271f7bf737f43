/* fts-sift-settings.c: the bounds of the plugin's settings, checked the
   same way whichever Dovecot version parsed them. */
#include "lib.h"
#include "fts-sift-settings.h"

int fts_sift_settings_check(const struct fts_sift_settings *set,
			    const char **error_r)
{
	if (set->commit_batch < FTS_SIFT_COMMIT_BATCH_MIN ||
	    set->commit_batch > FTS_SIFT_COMMIT_BATCH_MAX) {
		*error_r = t_strdup_printf(
			"fts_sift_commit_batch = %u: out of range (%u..%u)",
			set->commit_batch, FTS_SIFT_COMMIT_BATCH_MIN,
			FTS_SIFT_COMMIT_BATCH_MAX);
		return -1;
	}
	if (set->commit_size < FTS_SIFT_COMMIT_SIZE_MIN ||
	    set->commit_size > FTS_SIFT_COMMIT_SIZE_MAX) {
		*error_r = t_strdup_printf(
			"fts_sift_commit_size = %"PRIuUOFF_T": out of range "
			"(1M..16G)", set->commit_size);
		return -1;
	}
	if (set->commit_memory < FTS_SIFT_COMMIT_MEMORY_MIN ||
	    set->commit_memory > FTS_SIFT_COMMIT_MEMORY_MAX) {
		*error_r = t_strdup_printf(
			"fts_sift_commit_memory = %"PRIuUOFF_T": out of range "
			"(1M..16G)", set->commit_memory);
		return -1;
	}
	if (set->max_doc_terms != 0 &&
	    (set->max_doc_terms < FTS_SIFT_MAX_DOC_TERMS_MIN ||
	     set->max_doc_terms > FTS_SIFT_MAX_DOC_TERMS_MAX)) {
		*error_r = t_strdup_printf(
			"fts_sift_max_doc_terms = %u: out of range "
			"(0 or %u..%u)", set->max_doc_terms,
			FTS_SIFT_MAX_DOC_TERMS_MIN,
			FTS_SIFT_MAX_DOC_TERMS_MAX);
		return -1;
	}
	if (set->lock_timeout_secs > FTS_SIFT_LOCK_TIMEOUT_MAX) {
		*error_r = t_strdup_printf(
			"fts_sift_lock_timeout = %us: out of range (0..1h)",
			set->lock_timeout_secs);
		return -1;
	}
	return 0;
}
