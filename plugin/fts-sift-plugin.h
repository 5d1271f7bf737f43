/* fts-sift-plugin.h: the module's entry points (the only symbols it
   exports: plugin/fts-sift.map, tests/integration/test_exports.py) and
   its event category. */
#ifndef FTS_SIFT_PLUGIN_H
#define FTS_SIFT_PLUGIN_H

struct module;

extern struct fts_backend fts_backend_sift;
extern struct event_category event_category_fts_sift;

extern const char *fts_sift_plugin_version;
extern const char *fts_sift_plugin_dependencies[];

void fts_sift_plugin_init(struct module *module);
void fts_sift_plugin_deinit(void);

#endif
