/* fts-sift-walk.c: a SEARCH visits only the messages the index left.

   Dovecot answers a SEARCH by walking every message of the mailbox: for
   each sequence it sets up the mail (index_mail_set_seq()), the fts
   plugin applies the lookup's result to the arguments, and the
   arguments are evaluated.  With an index that answers the search,
   most of those messages are settled by the lookup as non-matches, yet
   each one still costs the walk: about 0.2 us of CPU per message and
   search, i.e. most of a rare word's search at 30,000 messages and all
   that grows with the mailbox.

   This wraps the mailbox's search_next_update_seq() outside the fts
   plugin's and moves the walk straight to the next message that can
   still match.  Which messages can: the fts plugin looks up the top
   level of the search arguments (an AND) with FTS_LOOKUP_FLAG_AND_ARGS;
   when that lookup answers at least one argument of the top level, a
   message in neither its definite nor its maybe UIDs gets that
   argument's result set to "false" by the fts plugin
   (fts_search_apply_results_level()), so the whole AND is false for
   it.  The candidates are therefore the lookup's definite and maybe
   UIDs plus every UID above the index's last indexed one (the fts
   plugin leaves those to Dovecot).  Skipping the others changes which
   messages Dovecot looks at, never the result.

   Not narrowed: virtual mailboxes (their lookups go through
   lookup_multi and their sequences are the virtual mailbox's), searches
   that keep a result updated (SEARCHRES/NOTIFY track non-matches too),
   a failed lookup, and a lookup that answered no top-level argument.

   The same wrapper also settles single leaves.  The fts plugin takes a
   lookup's answer per level: for a message the level left "maybe" it
   has Dovecot evaluate every leaf of the level, including the ones the
   index was certain of.  For most leaves that only repeats the index's
   answer; for a leaf Dovecot can't evaluate as the index does (text
   decoded from an attachment) it was wrong, and AND of such a leaf
   with one the index left to Dovecot lost the message.  So after the
   fts plugin has applied its results to a message, the leaves the
   lookup was certain of for it (struct sift_leaf_certain) get their
   results set, as the fts plugin sets a level's, and Dovecot evaluates
   only the rest.

   Virtual mailboxes get this per-leaf step too (not the narrowing).
   Their levels are looked up through lookup_multi, once per namespace
   of backend mailboxes, and lookup_multi is given the backend mailboxes
   and the virtual search's arguments, never the virtual mailbox.  So a
   search of a virtual mailbox is also registered in a list of this
   process's virtual searches, where lookup_multi finds it by the level
   it was handed (fts_sift_walk_wants_certain_multi()): the level is the
   top of, or a sub-list inside, exactly one running search's arguments
   (the results Dovecot evaluates are kept in the argument nodes, so two
   searches running at once can't share them; if two did claim a level,
   neither gets certain leaves, which is Dovecot's own behaviour).  Each
   backend mailbox's certain leaves come in backend UIDs
   (fts_sift_walk_lookup_multi_done()); they are mapped to the virtual
   mailbox's UIDs with its get_virtual_uids(), the call fts-search.c
   maps the level's definite and maybe UIDs with, and the virtual
   mailbox's walk sets them per message as above: its search steps
   through virtual sequences, whose UIDs are the virtual ones.

   The jump happens only between two calls of search_next_update_seq():
   by then the previous message has been evaluated and the arguments
   reset, and Dovecot's own next_update_seq() continues from
   ctx->seq + 1 exactly as if it had walked past the skipped messages
   itself.  The first call is left alone: it is where Dovecot sets the
   walk's start (seq1 of its own range). */
#include "lib.h"
#include "array.h"
#include "llist.h"
#include "seq-range-array.h"
#include "mail-index.h"
#include "mail-storage-private.h"
#include "mail-storage-hooks.h"
#include "mail-search.h"
#include "fts-api-private.h"
#include "fts-storage.h"
#include "fts-sift-plugin.h"
#include "fts-backend-sift.h"
#include "fts-sift-walk.h"

#define SIFT_WALK_CONTEXT(obj) \
	MODULE_CONTEXT(obj, sift_walk_storage_module)

struct sift_walk_search;

struct sift_walk_mailbox {
	union mailbox_module_context module_ctx;
	/* the searches of this mailbox that have begun and not ended:
	   a lookup finds its search by its arguments */
	ARRAY(struct sift_walk_search *) searches;
	/* a virtual mailbox: its searches' lookups are lookup_multi's,
	   and they are not narrowed */
	bool virtual_box;
};

/* A leaf whose result a lookup was certain of for some messages the
   leaf's level left maybe (struct sift_leaf_certain). */
struct sift_walk_certain {
	/* the level the lookup answered, and the leaf in it */
	const struct mail_search_arg *level;
	struct mail_search_arg *arg;
	bool result;
	/* UIDs of the searched mailbox (virtual ones for a virtual
	   mailbox: every backend mailbox's, merged) */
	ARRAY_TYPE(seq_range) uids;
};

/* A backend mailbox whose lookup_multi answer of a level a virtual
   search's certain leaves hold (only compared, never used) */
struct sift_walk_multi_seen {
	const struct mail_search_arg *level;
	const struct mailbox *backend_box;
};

struct sift_walk_search {
	union mail_search_module_context module_ctx;
	const struct mail_search_arg *args;
	/* a search of a virtual mailbox: the mailbox, and the search's
	   place in sift_walk_virtual_searches */
	struct mailbox *virtual_box;
	struct sift_walk_search *virtual_prev, *virtual_next;
	/* the leaves the lookups of its levels were certain of */
	ARRAY(struct sift_walk_certain) certain;
	/* a virtual mailbox's search: the backend mailboxes whose
	   lookups the certain leaves hold, per level */
	ARRAY(struct sift_walk_multi_seen) multi_seen;
	/* the candidate UIDs, sorted; valid when have_candidates */
	ARRAY_TYPE(seq_range) uids;
	/* index into uids of the first range not wholly below the
	   current message */
	unsigned int range_idx;
	/* messages skipped, for the debug line at the end */
	unsigned int skipped;
	bool have_candidates:1;
};

static MODULE_CONTEXT_DEFINE_INIT(sift_walk_storage_module,
				  &mail_storage_module_register);

/* the searches of virtual mailboxes that have begun and not ended, in
   this process (lookup_multi isn't told the virtual mailbox) */
static struct sift_walk_search *sift_walk_virtual_searches = NULL;

/* Is level (a list of arguments) a sub-list somewhere below args? */
static bool sift_walk_below(const struct mail_search_arg *args,
			    const struct mail_search_arg *level)
{
	for (; args != NULL; args = args->next) {
		if (args->type != SEARCH_OR && args->type != SEARCH_SUB)
			continue;
		if (args->value.subargs == level ||
		    sift_walk_below(args->value.subargs, level))
			return TRUE;
	}
	return FALSE;
}

/* The search of wbox that level is the top of or a sub-list of. */
static struct sift_walk_search *
sift_walk_find_level(struct sift_walk_mailbox *wbox,
		     const struct mail_search_arg *level)
{
	struct sift_walk_search *const *sp;

	array_foreach(&wbox->searches, sp) {
		if ((*sp)->args == level || sift_walk_below((*sp)->args, level))
			return *sp;
	}
	return NULL;
}

bool fts_sift_walk_wants_certain(struct mailbox *box,
				 const struct mail_search_arg *args)
{
	struct sift_walk_mailbox *wbox = SIFT_WALK_CONTEXT(box);

	return wbox != NULL && sift_walk_find_level(wbox, args) != NULL;
}

/* Forget what the lookups of level said of its leaves. */
static void sift_walk_certain_forget(struct sift_walk_search *ws,
				     const struct mail_search_arg *level)
{
	struct sift_walk_certain *wc;
	unsigned int i;

	for (i = array_count(&ws->certain); i > 0; i--) {
		wc = array_idx_modifiable(&ws->certain, i - 1);
		if (wc->level == level) {
			array_free(&wc->uids);
			array_delete(&ws->certain, i - 1, 1);
		}
	}
	for (i = array_count(&ws->multi_seen); i > 0; i--) {
		const struct sift_walk_multi_seen *seen =
			array_idx(&ws->multi_seen, i - 1);

		if (seen->level == level)
			array_delete(&ws->multi_seen, i - 1, 1);
	}
}

/* Add uids to what is certain of arg in level: one entry per leaf and
   result, however many mailboxes reported it (each message's walk step
   looks at every entry). */
static void sift_walk_certain_add(struct sift_walk_search *ws,
				  const struct mail_search_arg *level,
				  struct mail_search_arg *arg, bool result,
				  const ARRAY_TYPE(seq_range) *uids)
{
	struct sift_walk_certain *wc;

	if (array_count(uids) == 0)
		return;
	array_foreach_modifiable(&ws->certain, wc) {
		if (wc->level == level && wc->arg == arg &&
		    wc->result == result) {
			seq_range_array_merge(&wc->uids, uids);
			return;
		}
	}
	wc = array_append_space(&ws->certain);
	wc->level = level;
	wc->arg = arg;
	wc->result = result;
	i_array_init(&wc->uids, array_count(uids));
	array_append_array(&wc->uids, uids);
}

/* A lookup of the searched mailbox itself: replace what an earlier
   lookup of level said of its leaves by certain (NULL: nothing). */
static void
sift_walk_certain_set(struct sift_walk_search *ws,
		      const struct mail_search_arg *level,
		      const ARRAY_TYPE(sift_leaf_certain) *certain)
{
	const struct sift_leaf_certain *c;

	sift_walk_certain_forget(ws, level);
	if (certain == NULL)
		return;
	array_foreach(certain, c)
		sift_walk_certain_add(ws, level, c->arg, c->result, &c->uids);
}

/* A virtual mailbox's search: lookup_multi looked level up in
   backend_box, one of its backend mailboxes, and was certain of
   certain (NULL: nothing), in backend_box's UIDs.  Add them in virtual
   UIDs to what the other backend mailboxes' lookups of level said: the
   fts plugin looks a search up once, each backend mailbox once per
   level (in the lookup_multi call of the mailbox's namespace), so a
   backend mailbox seen again for level means a new lookup, which
   replaces the earlier one. */
static void
sift_walk_certain_add_multi(struct sift_walk_search *ws,
			    const struct mail_search_arg *level,
			    struct mailbox *backend_box,
			    const ARRAY_TYPE(sift_leaf_certain) *certain)
{
	const struct sift_walk_multi_seen *seen;
	struct sift_walk_multi_seen *new_seen;
	const struct sift_leaf_certain *c;
	ARRAY_TYPE(seq_range) vuids;

	array_foreach(&ws->multi_seen, seen) {
		if (seen->level == level && seen->backend_box == backend_box) {
			sift_walk_certain_forget(ws, level);
			break;
		}
	}
	new_seen = array_append_space(&ws->multi_seen);
	new_seen->level = level;
	new_seen->backend_box = backend_box;
	if (certain == NULL)
		return;
	array_foreach(certain, c) T_BEGIN {
		/* backend UIDs to virtual ones, as fts-search.c maps the
		   level's result (a UID the virtual mailbox doesn't have
		   is left out) */
		t_array_init(&vuids, array_count(&c->uids));
		ws->virtual_box->virtual_vfuncs->get_virtual_uids(
			ws->virtual_box, backend_box, &c->uids, &vuids);
		sift_walk_certain_add(ws, level, c->arg, c->result, &vuids);
	} T_END;
}

/* Set the result of every leaf a lookup was certain of for the current
   message (ctx->seq), where the fts plugin left it open. */
static void sift_walk_apply_certain(struct mail_search_context *ctx,
				    struct sift_walk_search *ws)
{
	const struct sift_walk_certain *wc;
	uint32_t uid;

	mail_index_lookup_uid(ctx->transaction->view, ctx->seq, &uid);
	array_foreach(&ws->certain, wc) {
		if (wc->arg->result == -1 &&
		    seq_range_exists(&wc->uids, uid))
			wc->arg->result = wc->result ? 1 : 0;
	}
}

void fts_sift_walk_lookup_done(struct mailbox *box,
			       const struct mail_search_arg *args,
			       enum fts_lookup_flags flags,
			       const struct fts_result *result,
			       uint32_t last_uid,
			       const ARRAY_TYPE(sift_leaf_certain) *certain)
{
	struct sift_walk_mailbox *wbox = SIFT_WALK_CONTEXT(box);
	struct sift_walk_search *ws;
	const struct mail_search_arg *arg;
	bool answered = FALSE;

	if (wbox == NULL)
		return;
	ws = sift_walk_find_level(wbox, args);
	if (ws == NULL)
		return;
	if (ws->virtual_box != NULL) {
		/* (a virtual mailbox's lookups are lookup_multi's) */
		return;
	}
	sift_walk_certain_set(ws, args, result == NULL ? NULL : certain);
	if (ws->args != args || (flags & FTS_LOOKUP_FLAG_AND_ARGS) == 0)
		return;
	/* a repeated lookup of the same search replaces the earlier one */
	ws->have_candidates = FALSE;
	array_clear(&ws->uids);
	ws->range_idx = 0;
	if (result == NULL) {
		/* the lookup failed: Dovecot walks every message */
		return;
	}
	for (arg = args; arg != NULL; arg = arg->next) {
		if (arg->match_always)
			answered = TRUE;
	}
	if (!answered)
		return;
	if (array_is_created(&result->definite_uids))
		seq_range_array_merge(&ws->uids, &result->definite_uids);
	if (array_is_created(&result->maybe_uids))
		seq_range_array_merge(&ws->uids, &result->maybe_uids);
	if (last_uid < (uint32_t)-1)
		seq_range_array_add_range(&ws->uids, last_uid + 1, (uint32_t)-1);
	ws->have_candidates = TRUE;
}

/* The search of a virtual mailbox whose arguments level is the top of
   or a sub-list of; NULL if none, or more than one (see the top of this
   file). */
static struct sift_walk_search *
sift_walk_find_virtual(const struct mail_search_arg *level)
{
	struct sift_walk_search *ws, *found = NULL;

	for (ws = sift_walk_virtual_searches; ws != NULL;
	     ws = ws->virtual_next) {
		if (ws->args != level && !sift_walk_below(ws->args, level))
			continue;
		if (found != NULL)
			return NULL;
		found = ws;
	}
	return found;
}

bool fts_sift_walk_wants_certain_multi(const struct mail_search_arg *args)
{
	return sift_walk_find_virtual(args) != NULL;
}

void fts_sift_walk_lookup_multi_done(struct mailbox *backend_box,
				     const struct mail_search_arg *args,
				     const ARRAY_TYPE(sift_leaf_certain) *certain)
{
	struct sift_walk_search *ws = sift_walk_find_virtual(args);

	if (ws == NULL || ws->virtual_box->virtual_vfuncs == NULL)
		return;
	if (backend_box == NULL) {
		i_assert(certain == NULL);
		sift_walk_certain_forget(ws, args);
		return;
	}
	sift_walk_certain_add_multi(ws, args, backend_box, certain);
}

const ARRAY_TYPE(seq_range) *
fts_sift_walk_scope(struct mailbox *box, const struct mail_search_arg *args)
{
	struct sift_walk_mailbox *wbox = SIFT_WALK_CONTEXT(box);
	struct sift_walk_search *const *sp;

	if (wbox == NULL)
		return NULL;
	array_foreach(&wbox->searches, sp) {
		if ((*sp)->have_candidates && (*sp)->args != args &&
		    sift_walk_below((*sp)->args, args))
			return &(*sp)->uids;
	}
	return NULL;
}

/* Move ctx->seq so that Dovecot's next step (seq + 1) is the next
   message at or after it whose UID is a candidate. */
static void sift_walk_skip(struct mail_search_context *ctx,
			   struct sift_walk_search *ws)
{
	struct mail_index_view *view = ctx->transaction->view;
	const struct seq_range *range;
	unsigned int count;
	uint32_t messages, uid, next_uid, seq1, seq2;

	messages = mail_index_view_get_messages_count(view);
	if (ctx->seq == 0 || ctx->seq >= messages)
		return;
	mail_index_lookup_uid(view, ctx->seq, &uid);
	range = array_get(&ws->uids, &count);
	while (ws->range_idx < count && range[ws->range_idx].seq2 <= uid)
		ws->range_idx++;
	if (ws->range_idx == count) {
		/* no candidate left: Dovecot's next step ends the walk */
		ws->skipped += messages - ctx->seq;
		ctx->seq = messages;
		return;
	}
	next_uid = I_MAX(range[ws->range_idx].seq1, uid + 1);
	if (!mail_index_lookup_seq_range(view, next_uid, (uint32_t)-1,
					 &seq1, &seq2)) {
		ws->skipped += messages - ctx->seq;
		ctx->seq = messages;
		return;
	}
	if (seq1 - 1 > ctx->seq) {
		ws->skipped += seq1 - 1 - ctx->seq;
		ctx->seq = seq1 - 1;
	}
}

/* Unregister a search from its mailbox and free it. */
static void sift_walk_search_free(struct sift_walk_mailbox *wbox,
				  struct sift_walk_search **_ws)
{
	struct sift_walk_search *ws = *_ws;
	struct sift_walk_certain *wc;
	unsigned int i, count;

	*_ws = NULL;
	count = array_count(&wbox->searches);
	for (i = 0; i < count; i++) {
		if (array_idx_elem(&wbox->searches, i) == ws) {
			array_delete(&wbox->searches, i, 1);
			break;
		}
	}
	if (ws->virtual_box != NULL) {
		DLLIST_REMOVE_FULL(&sift_walk_virtual_searches, ws,
				   virtual_prev, virtual_next);
	}
	array_foreach_modifiable(&ws->certain, wc)
		array_free(&wc->uids);
	array_free(&ws->certain);
	array_free(&ws->multi_seen);
	array_free(&ws->uids);
	i_free(ws);
}

static struct mail_search_context *
sift_walk_search_init(struct mailbox_transaction_context *t,
		      struct mail_search_args *args,
		      const enum mail_sort_type *sort_program,
		      enum mail_fetch_field wanted_fields,
		      struct mailbox_header_lookup_ctx *wanted_headers)
{
	struct sift_walk_mailbox *wbox = SIFT_WALK_CONTEXT(t->box);
	struct sift_walk_search *ws;
	struct mail_search_context *ctx;

	/* registered before the fts plugin's search_init runs, because
	   that is where it usually looks up */
	ws = i_new(struct sift_walk_search, 1);
	ws->args = args->args;
	i_array_init(&ws->uids, 16);
	i_array_init(&ws->certain, 4);
	i_array_init(&ws->multi_seen, 4);
	array_push_back(&wbox->searches, &ws);
	if (wbox->virtual_box) {
		ws->virtual_box = t->box;
		DLLIST_PREPEND_FULL(&sift_walk_virtual_searches, ws,
				    virtual_prev, virtual_next);
	}

	ctx = wbox->module_ctx.super.search_init(t, args, sort_program,
						 wanted_fields,
						 wanted_headers);
	if (ctx == NULL) {
		sift_walk_search_free(wbox, &ws);
		return NULL;
	}
	MODULE_CONTEXT_SET(ctx, sift_walk_storage_module, ws);
	return ctx;
}

static bool sift_walk_search_next_update_seq(struct mail_search_context *ctx)
{
	struct sift_walk_mailbox *wbox =
		SIFT_WALK_CONTEXT(ctx->transaction->box);
	struct sift_walk_search *ws = SIFT_WALK_CONTEXT(ctx);

	if (ws != NULL && ws->have_candidates && ctx->update_result == NULL)
		sift_walk_skip(ctx, ws);
	if (!wbox->module_ctx.super.search_next_update_seq(ctx))
		return FALSE;
	if (ws != NULL && array_count(&ws->certain) > 0)
		sift_walk_apply_certain(ctx, ws);
	return TRUE;
}

static int sift_walk_search_deinit(struct mail_search_context *ctx)
{
	struct sift_walk_mailbox *wbox =
		SIFT_WALK_CONTEXT(ctx->transaction->box);
	struct sift_walk_search *ws = SIFT_WALK_CONTEXT(ctx);

	if (ws != NULL) {
		if (ws->have_candidates) {
			struct fts_backend *backend =
				fts_list_backend(ctx->transaction->box->list);
			struct event *event = backend != NULL ?
				SIFT_BACKEND(backend)->event :
				ctx->transaction->box->event;

			e_debug(event,
				"the search walked past %u messages "
				"the index ruled out", ws->skipped);
		}
		sift_walk_search_free(wbox, &ws);
	}
	return wbox->module_ctx.super.search_deinit(ctx);
}

static void sift_walk_mailbox_free(struct mailbox *box)
{
	struct sift_walk_mailbox *wbox = SIFT_WALK_CONTEXT(box);

	array_free(&wbox->searches);
	wbox->module_ctx.super.free(box);
}

static void sift_walk_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct sift_walk_mailbox *wbox;
	struct fts_backend *backend;
	bool is_virtual;

	/* only where sift answers the lookups; for a virtual mailbox,
	   wherever the fts plugin looks up (its backend mailboxes'
	   backends answer, through lookup_multi: see the top of this
	   file) */
	is_virtual = box->virtual_vfuncs != NULL ||
		strcmp(box->storage->name, "virtual") == 0;
	backend = fts_list_backend(box->list);
	if (backend == NULL ||
	    (!is_virtual &&
	     strcmp(backend->name, fts_backend_sift.name) != 0))
		return;

	wbox = p_new(box->pool, struct sift_walk_mailbox, 1);
	wbox->virtual_box = is_virtual;
	wbox->module_ctx.super = *v;
	box->vlast = &wbox->module_ctx.super;
	i_array_init(&wbox->searches, 4);
	v->search_init = sift_walk_search_init;
	v->search_next_update_seq = sift_walk_search_next_update_seq;
	v->search_deinit = sift_walk_search_deinit;
	v->free = sift_walk_mailbox_free;
	MODULE_CONTEXT_SET(box, sift_walk_storage_module, wbox);
}

static struct mail_storage_hooks sift_walk_hooks = {
	.mailbox_allocated = sift_walk_mailbox_allocated,
};

void fts_sift_walk_hooks_add(struct module *module)
{
	mail_storage_hooks_add(module, &sift_walk_hooks);
}

void fts_sift_walk_hooks_remove(void)
{
	mail_storage_hooks_remove(&sift_walk_hooks);
}
