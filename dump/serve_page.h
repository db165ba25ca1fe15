/*
 * serve_page.h - the search page that shmlog-dump serve answers at / : its
 * files (dump/page/) as bytes, written into the program at build time by
 * dump/page/embed_page.py, so that the page is the program's own version.
 */
#ifndef SERVE_PAGE_H
#define SERVE_PAGE_H

#include <stddef.h>

extern const unsigned char serve_page_index_html[], serve_page_page_js[], serve_page_page_css[];
extern const size_t serve_page_index_html_len, serve_page_page_js_len, serve_page_page_css_len;

#endif /* SERVE_PAGE_H */
