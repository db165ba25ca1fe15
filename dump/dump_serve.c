/*
 * dump_serve.c - shmlog-dump serve: the records of the collector's files (a
 * host's --out, a mirror's directory) over HTTP, read-only, through
 * libshmlog-read with the filters of read:
 *
 *   GET /api/query   the events, as JSON Lines, JSON, or text; a last line says why the answer ended
 *   GET /api/tail    Server-Sent Events: each new record, from now or from a cursor
 *   GET /api/stats   counts by level, app, host and category
 *   GET /api/fields  call sites, fields and their types, label values
 *   GET /health, GET /metrics (Prometheus text)
 *
 * Threading: libmicrohttpd runs one internal thread over epoll and never
 * waits on a client or on the files; the files are read by a few workers
 * (dump_serve_job.c) in steps, each into its job's buffer, the connection
 * suspended until the step is done. So a slow or vanished client holds a
 * buffer and a reader (both bounded, and their number), never a thread, and
 * a long scan holds one worker, not the connections of others.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#if SERVE_TLS
#include <gnutls/gnutls.h>
#endif

#include "dump.h"
#include "dump_serve.h"
#include "serve_page.h"

#define SERVE_WORKERS 2
#define SERVE_CONNECTIONS 1024
#define SERVE_PER_IP_CONNECTIONS 256 /* one address's crowd (stalled request headers) leaves room for the others */
/* A connection that neither sends nor takes a byte this long is closed: a
 * stalled request header goes; a suspended one (a tail between records, an
 * answer being made) is not timed. */
#define SERVE_IDLE_TIMEOUT_S 10
#define SERVE_TIMEOUT_NS 30000000000u      /* a query's longest run; timeout_ms may ask for less */
#define SERVE_FIELDS_TIMEOUT_NS 5000000000u
#define SERVE_MAX_BYTES (4ull << 30)       /* an answer's largest size; max_bytes may ask for less */
#define SERVE_TOKEN_MAX 4096
#define SERVE_PEM_MAX (1u << 20) /* a certificate chain or key file of --tls-* */
#define SERVE_SNDBUF (64 * 1024) /* the kernel's buffer toward a client: a slow one holds no more */

static volatile sig_atomic_t serve_stop;
static char serve_token[SERVE_TOKEN_MAX + 1];
static size_t serve_token_len;
static int serve_client_certs; /* --tls-client-ca: a request needs a client certificate it signed */
static const char *const *serve_paths;
static int serve_npaths;

static void on_stop(int sig)
{
    (void)sig;
    serve_stop = 1;
}

/* ==== Answers of one piece ==== */

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type, const char *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* A 400 whose body names the parameter (as the client spelled it: escaped) and says what it wants. */
static enum MHD_Result bad_param(struct MHD_Connection *conn, const char *name, const char *why)
{
    char body[2048];
    struct render_buf b;
    render_buf_init(&b, body, sizeof body - 1);
    render_buf_puts(&b, "{\"error\":\"bad parameter\"");
    char shown[256];
    snprintf(shown, sizeof shown, "%s", name); /* an unknown name is the client's: cut, the body stays whole */
    put_json_kv_str(&b, "parameter", shown);
    put_json_kv_str(&b, "why", why);
    render_buf_puts(&b, "}\n");
    body[b.len] = '\0';
    __atomic_add_fetch(&serve_counters.bad_requests, 1, __ATOMIC_RELAXED);
    return answer(conn, MHD_HTTP_BAD_REQUEST, "application/json", body);
}

/* ==== Parameters ==== */

struct query_params {
    const char *names[32];
    const char *values[32];
    int n;
    const char *unknown; /* the first parameter no endpoint takes */
    const char *repeated;
};

static const char *const known_params[] = {"since", "until", "level", "category", "app", "host", "pid", "thread", "trace", "where",
                                           "grep", "limit", "cursor", "format", "timeout_ms", "max_bytes", "live", "markers", NULL};

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct query_params *p = cls;
    if (!*key) /* "?&x=1": an empty piece, nothing asked */
        return MHD_YES;
    int known = 0;
    for (int i = 0; known_params[i]; i++)
        known |= strcmp(key, known_params[i]) == 0;
    if (!known) {
        if (!p->unknown)
            p->unknown = key;
        return MHD_YES;
    }
    for (int i = 0; i < p->n && strcmp(key, "where") != 0; i++)
        if (strcmp(p->names[i], key) == 0 && !p->repeated)
            p->repeated = key;
    if (p->n < 32) {
        p->names[p->n] = key;
        p->values[p->n++] = value ? value : "";
    }
    return MHD_YES;
}

static const char *param(const struct query_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->names[i], name) == 0)
            return p->values[i];
    return NULL;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || x < min || x > max)
        return -1;
    *v = x;
    return 0;
}

static char *dup_or_die(const char *s)
{
    char *d = strdup(s);
    if (!d)
        dump_oom();
    return d;
}

/* The request's parameters into req; NULL, or the bad one's name with why. */
static const char *read_params(const struct query_params *p, struct serve_request *req, char *why, size_t whycap)
{
    struct shmlog_read_options init = SHMLOG_READ_OPTIONS_INIT;
    req->o = init;
    req->timeout_ns = req->kind == SERVE_FIELDS ? SERVE_FIELDS_TIMEOUT_NS : SERVE_TIMEOUT_NS;
    req->max_bytes = SERVE_MAX_BYTES;
    if (req->kind == SERVE_TAIL)
        req->timeout_ns = 0; /* a tail lives as long as its client, unless it asks */
    const char *v;
    uint64_t now = read_now_ns();
    if ((v = param(p, "since")) && read_parse_time(v, 0, now, &req->o.since_ns) != 0) {
        snprintf(why, whycap, "'%s' is not a time; give one of %s", v, read_time_forms);
        return "since";
    }
    if ((v = param(p, "until")) && read_parse_time(v, 0, now, &req->o.until_ns) != 0) {
        snprintf(why, whycap, "'%s' is not a time; give one of %s", v, read_time_forms);
        return "until";
    }
    if ((v = param(p, "level")) && (req->o.min_level = parse_level(v, 0)) < 0) {
        snprintf(why, whycap, "wants TRACE, DEBUG, INFO, WARN, ERROR or FATAL, not '%s'", v);
        return "level";
    }
    if ((v = param(p, "category"))) {
        char spelled[SHMLOG_CATEGORY_NAME_BYTES];
        if (shm_category_spelled(v, spelled) != 0) {
            snprintf(why, whycap, "wants a category's name (none, trade, order, md, risk, portfolio or the "
                     "program's own: a-z, 0-9, _), not '%s'", v);
            return "category";
        }
        req->o.category = req->category = dup_or_die(v);
    }
    if ((v = param(p, "app"))) {
        if (!*v || strlen(v) >= SHMLOG_APP_BYTES) {
            snprintf(why, whycap, "wants an application name of 1 to %u bytes", SHMLOG_APP_BYTES - 1);
            return "app";
        }
        req->o.app = req->app = dup_or_die(v);
    }
    if ((v = param(p, "host"))) {
        if (strlen(v) >= SHMLOG_HOST_BYTES || !shlog_host_name_ok(v)) {
            snprintf(why, whycap, "wants a host's name as the collector's --host gives it (1 to %u bytes of "
                     "[A-Za-z0-9._-])", SHMLOG_HOST_BYTES - 1);
            return "host";
        }
        req->o.host = req->host = dup_or_die(v);
    }
    uint64_t x;
    if ((v = param(p, "pid"))) {
        if (parse_u64(v, 1, 0x7fffffff, &x) != 0) {
            snprintf(why, whycap, "wants a process id, not '%s'", v);
            return "pid";
        }
        req->o.pid = (uint32_t)x;
    }
    if ((v = param(p, "thread"))) {
        if (!*v || strlen(v) > SHMLOG_THREAD_NAME_BYTES) {
            snprintf(why, whycap, "wants a thread's name (1 to %u bytes) or its tid", SHMLOG_THREAD_NAME_BYTES);
            return "thread";
        }
        req->o.thread = req->thread = dup_or_die(v);
    }
    if ((v = param(p, "trace"))) {
        uint64_t hi, lo;
        if (read_trace_id_parse(v, &hi, &lo) != 0) {
            snprintf(why, whycap, "wants a trace id of 1 to 32 hex digits, not 0, not '%s'", v);
            return "trace";
        }
        req->o.trace = req->trace = dup_or_die(v);
    }
    if ((v = param(p, "grep"))) {
        regex_t re;
        int rc = regcomp(&re, v, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char e[256];
            regerror(rc, &re, e, sizeof e);
            snprintf(why, whycap, "bad regular expression '%s': %s", v, e);
            return "grep";
        }
        regfree(&re);
        req->o.grep = req->grep = dup_or_die(v);
    }
    for (int i = 0; i < p->n; i++) {
        if (strcmp(p->names[i], "where") != 0)
            continue;
        struct read_filter f;
        read_filter_init(&f);
        int rc = read_filter_where_add(&f, p->values[i], why, whycap);
        read_filter_free(&f);
        if (rc == -ENOMEM)
            dump_oom();
        if (rc != 0)
            return "where";
        char **w = realloc(req->where, (req->nwhere + 1) * sizeof *w);
        if (!w)
            dump_oom();
        req->where = w;
        req->where[req->nwhere++] = dup_or_die(p->values[i]);
    }
    req->o.where = (const char *const *)req->where;
    req->o.nwhere = req->nwhere;
    if ((v = param(p, "limit")) && parse_u64(v, 1, UINT64_MAX, &req->limit) != 0) {
        snprintf(why, whycap, "wants a number of records, 1 or more, not '%s'", v);
        return "limit";
    }
    if ((v = param(p, "cursor"))) {
        if (serve_cursor_parse(v, &req->cursor) != 0) {
            snprintf(why, whycap, "wants a cursor an answer gave (NS-N...), not '%.400s'", v);
            return "cursor";
        }
        req->has_cursor = 1;
    }
    if ((v = param(p, "timeout_ms"))) {
        uint64_t cap = req->timeout_ns ? req->timeout_ns / 1000000u : SERVE_TIMEOUT_NS / 1000000u;
        if (parse_u64(v, 1, cap, &x) != 0) {
            snprintf(why, whycap, "wants milliseconds from 1 to %llu, not '%s'", (unsigned long long)cap, v);
            return "timeout_ms";
        }
        req->timeout_ns = x * 1000000u;
    }
    if ((v = param(p, "max_bytes")) && parse_u64(v, 1, SERVE_MAX_BYTES, &req->max_bytes) != 0) {
        snprintf(why, whycap, "wants bytes from 1 to %llu, not '%s'", (unsigned long long)SERVE_MAX_BYTES, v);
        return "max_bytes";
    }
    if ((v = param(p, "live"))) {
        if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
            snprintf(why, whycap, "wants 1 (also the live rings' records) or 0, not '%s'", v);
            return "live";
        }
        req->live = v[0] == '1';
    }
    if ((v = param(p, "markers"))) {
        if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
            snprintf(why, whycap, "wants 1 (the loss and exit markers' rows) or 0, not '%s'", v);
            return "markers";
        }
        req->markers = v[0] == '1';
    }
    return NULL;
}

static const char *const format_types[] = {"application/x-ndjson", "application/json", "text/plain; charset=utf-8",
                                           "application/vnd.apache.arrow.stream"};

/* format= or the Accept header: 0 with the format, 1 when format= named it, -1 when bad. */
static int choose_format(struct MHD_Connection *conn, const struct query_params *p, enum serve_format *f)
{
    const char *v = param(p, "format");
    if (v) {
        if (!strcmp(v, "jsonl") || !strcmp(v, "ndjson"))
            *f = SERVE_JSONL;
        else if (!strcmp(v, "json"))
            *f = SERVE_JSON;
        else if (!strcmp(v, "text"))
            *f = SERVE_TEXT;
        else if (!strcmp(v, "arrow"))
            *f = SERVE_ARROW;
        else
            return -1;
        return 1;
    }
    const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    *f = SERVE_JSONL;
    if (!accept)
        return 0;
    if (strstr(accept, "application/vnd.apache.arrow.stream"))
        *f = SERVE_ARROW;
    else if (strstr(accept, "application/x-ndjson") || strstr(accept, "application/jsonl"))
        *f = SERVE_JSONL;
    else if (strstr(accept, "application/json"))
        *f = SERVE_JSON;
    else if (strstr(accept, "text/plain"))
        *f = SERVE_TEXT;
    return 0;
}

/* ==== Endpoints ==== */

static enum MHD_Result serve_job_answer(struct MHD_Connection *conn, struct serve_request *req, const char *type)
{
    struct serve_job *j = serve_job_new(req, conn);
    if (!j) {
        serve_request_free(req);
        __atomic_add_fetch(&serve_counters.busy, 1, __ATOMIC_RELAXED);
        return answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
                      "busy: the server answers its most queries at once; try again\n");
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
                                                                  serve_job_read, j,
                                                                  serve_job_release);
    if (!resp) {
        serve_job_release(j);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result api(struct MHD_Connection *conn, enum serve_kind kind)
{
    struct query_params p = {0};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_param, &p);
    if (p.unknown)
        return bad_param(conn, p.unknown, "no such parameter (since until level category app pid thread trace where "
                                          "grep limit cursor format timeout_ms max_bytes live markers)");
    if (p.repeated)
        return bad_param(conn, p.repeated, "given more than once (only where repeats)");
    struct serve_request req = {.kind = kind};
    int named = choose_format(conn, &p, &req.format);
    if (named < 0)
        return bad_param(conn, "format", "wants jsonl, json, text or arrow");
    if (req.format == SERVE_ARROW && kind != SERVE_QUERY) {
        if (named)
            return bad_param(conn, "format", "arrow answers /api/query only");
        req.format = SERVE_JSONL; /* an Accept header that also takes Arrow: the endpoint's own type */
    }
    char why[600];
    const char *bad = read_params(&p, &req, why, sizeof why);
    if (bad) {
        serve_request_free(&req);
        return bad_param(conn, bad, why);
    }
    if (req.live && ((kind != SERVE_QUERY && kind != SERVE_TAIL) || req.format == SERVE_ARROW)) {
        serve_request_free(&req);
        return bad_param(conn, "live", "goes with /api/query (jsonl, json or text) and /api/tail");
    }
    if (req.markers && (kind != SERVE_QUERY || req.format != SERVE_ARROW)) {
        serve_request_free(&req);
        return bad_param(conn, "markers", "goes with /api/query and format=arrow (the other formats hold markers among the records)");
    }
    const char *type = format_types[req.format];
    if (kind == SERVE_TAIL) {
        req.format = SERVE_JSONL;
        type = "text/event-stream";
        /* An EventSource that reconnects says where it was. */
        const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
        if (last && !req.has_cursor && serve_cursor_parse(last, &req.cursor) == 0)
            req.has_cursor = 1;
    } else if (kind != SERVE_QUERY) {
        type = "application/json";
    }
    return serve_job_answer(conn, &req, type);
}

static enum MHD_Result health(struct MHD_Connection *conn)
{
    char body[8192] = "{\"status\":\"ok\",\"inputs\":[";
    struct render_buf b;
    size_t at = strlen(body);
    render_buf_init(&b, body + at, sizeof body - at - 8);
    int ok = 1;
    for (int i = 0; i < serve_npaths; i++) {
        int readable = access(serve_paths[i], R_OK) == 0;
        ok &= readable;
        render_buf_puts(&b, i ? ",{\"path\":" : "{\"path\":");
        render_json_string(&b, serve_paths[i], strlen(serve_paths[i]));
        put_json_kv_bool(&b, "readable", readable);
        render_buf_putc(&b, '}');
    }
    render_buf_puts(&b, "]}\n");
    body[at + b.len] = '\0';
    if (!ok)
        memcpy(body, "{\"status\":\"no\"", 14); /* same length as "ok" padded: the rest stands */
    return answer(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", body);
}

static enum MHD_Result metrics(struct MHD_Connection *conn)
{
    static const struct {
        const char *name, *type, *help;
        size_t at;
    } m[] = {
        {"shmlog_serve_requests_total", "counter", "HTTP requests", offsetof(struct serve_counters, requests)},
        {"shmlog_serve_bad_requests_total", "counter", "requests answered 400",
         offsetof(struct serve_counters, bad_requests)},
        {"shmlog_serve_unauthorized_total", "counter", "requests without the bearer token",
         offsetof(struct serve_counters, refused_auth)},
        {"shmlog_serve_busy_total", "counter", "requests answered 503: the most jobs ran already",
         offsetof(struct serve_counters, busy)},
        {"shmlog_serve_answers_total", "counter", "query, tail, stats and fields answers ended",
         offsetof(struct serve_counters, jobs_done)},
        {"shmlog_serve_sent_bytes_total", "counter", "bytes of those answers sent",
         offsetof(struct serve_counters, bytes_sent)},
        {"shmlog_serve_time_limited_total", "counter", "answers ended by their time limit",
         offsetof(struct serve_counters, ended_time)},
        {"shmlog_serve_size_limited_total", "counter", "answers ended by their size limit",
         offsetof(struct serve_counters, ended_size)},
        {"shmlog_serve_record_limited_total", "counter", "answers ended by their limit of records",
         offsetof(struct serve_counters, ended_limit)},
        {"shmlog_serve_active_answers", "gauge", "queries, stats and fields being answered",
         offsetof(struct serve_counters, active_jobs)},
        {"shmlog_serve_active_tails", "gauge", "tails being answered", offsetof(struct serve_counters, active_tails)},
    };
    char body[4096];
    size_t len = 0;
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        uint64_t v = __atomic_load_n((uint64_t *)((char *)&serve_counters + m[i].at), __ATOMIC_RELAXED);
        len += (size_t)snprintf(body + len, sizeof body - len, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", m[i].name,
                                m[i].help, m[i].name, m[i].type, m[i].name, (unsigned long long)v);
    }
    return answer(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body);
}

/* ==== The search page ==== */

/* Its own script and style only, nothing inline, no frames around it: a record's text that reached the
 * page as markup still could not run. */
#define PAGE_CSP                                                                                              \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src data:; "          \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const struct page_file {
    const char *url, *type;
    const unsigned char *data;
    const size_t *len;
} page_files[] = {
    {"/", "text/html; charset=utf-8", serve_page_index_html, &serve_page_index_html_len},
    {"/page.js", "text/javascript; charset=utf-8", serve_page_page_js, &serve_page_page_js_len},
    {"/page.css", "text/css; charset=utf-8", serve_page_page_css, &serve_page_page_css_len},
};

static const struct page_file *page_file_at(const char *url)
{
    for (size_t i = 0; i < sizeof page_files / sizeof page_files[0]; i++)
        if (strcmp(url, page_files[i].url) == 0)
            return &page_files[i];
    return NULL;
}

static enum MHD_Result page_file(struct MHD_Connection *conn, const struct page_file *f)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(*f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, f->type);
    MHD_add_response_header(resp, "Content-Security-Policy", PAGE_CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* The client's certificate, verified against --tls-client-ca's (by gnutls:
 * the chain, its signatures and its dates); 0 without one. */
static int client_cert_ok(struct MHD_Connection *conn)
{
#if SERVE_TLS
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    unsigned status = 1;
    return info && info->tls_session && gnutls_certificate_verify_peers2(info->tls_session, &status) == 0 &&
           status == 0;
#else
    (void)conn;
    return 0;
#endif
}

/* The client certificate (--tls-client-ca) and the bearer token (--auth),
 * each when asked for; the token compared in time that does not depend on
 * where it differs. */
static int authorized(struct MHD_Connection *conn)
{
    if (serve_client_certs && !client_cert_ok(conn))
        return 0;
    if (!serve_token_len)
        return 1;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    size_t n = strlen(h);
    unsigned diff = n != serve_token_len;
    for (size_t i = 0; i < serve_token_len; i++)
        diff |= (unsigned)(uint8_t)serve_token[i] ^ (unsigned)(uint8_t)(i < n ? h[i] : 0);
    return diff == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls, (void)version, (void)upload_data, (void)con_cls;
    if (*upload_data_size) { /* a request body is not read */
        *upload_data_size = 0;
        return MHD_YES;
    }
    __atomic_add_fetch(&serve_counters.requests, 1, __ATOMIC_RELAXED);
    if (strcmp(method, "GET") != 0)
        return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "only GET\n");
    if (strcmp(url, "/health") == 0) /* says only whether the inputs are there: load balancers ask it */
        return health(conn);
    const struct page_file *page = page_file_at(url);
    if (page) /* holds no record: the page's queries ask for the token */
        return page_file(conn, page);
    if (!authorized(conn)) {
        __atomic_add_fetch(&serve_counters.refused_auth, 1, __ATOMIC_RELAXED);
        return answer(conn, MHD_HTTP_UNAUTHORIZED, "text/plain; charset=utf-8",
                      serve_client_certs && !client_cert_ok(conn)
                          ? "unauthorized: present a client certificate that --tls-client-ca's signed\n"
                          : "unauthorized: send Authorization: Bearer <the token of --auth>\n");
    }
    if (strcmp(url, "/api/query") == 0)
        return api(conn, SERVE_QUERY);
    if (strcmp(url, "/api/tail") == 0)
        return api(conn, SERVE_TAIL);
    if (strcmp(url, "/api/stats") == 0)
        return api(conn, SERVE_STATS);
    if (strcmp(url, "/api/fields") == 0)
        return api(conn, SERVE_FIELDS);
    if (strcmp(url, "/metrics") == 0)
        return metrics(conn);
    return answer(conn, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
                  "not found: / (the search page) /api/query /api/tail /api/stats /api/fields /health /metrics\n");
}

/* libmicrohttpd's messages: a client that hangs up mid-answer makes one, and
 * many clients must not flood the log: the first few are shown. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    static unsigned shown;
    if (__atomic_fetch_add(&shown, 1, __ATOMIC_RELAXED) >= 20)
        return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    fprintf(stderr, "%s: serve: %s\n", dump_prog, msg);
}

/* A connection's send buffer bounded: loopback's would grow to megabytes,
 * each refilled from the files for a client that does not read. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls, (void)socket_context;
    if (code != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    const union MHD_ConnectionInfo *sock = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int size = SERVE_SNDBUF;
    if (sock)
        setsockopt(sock->connect_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

/* ==== Start ==== */

/* ADDR:PORT, [V6]:PORT or PORT (on 127.0.0.1) into addr; 0, or -1. */
static int parse_listen(const char *s, struct sockaddr_storage *addr)
{
    memset(addr, 0, sizeof *addr);
    char host[256] = "127.0.0.1";
    const char *port = s;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host)
            return -1;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        port = close + 2;
    } else if (strchr(s, ':')) {
        const char *colon = strrchr(s, ':');
        if ((size_t)(colon - s) >= sizeof host)
            return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    uint64_t p;
    if (parse_u64(port, 0, 65535, &p) != 0)
        return -1;
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (inet_pton(AF_INET, strcmp(host, "localhost") ? host : "127.0.0.1", &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
    } else {
        return -1;
    }
    return 0;
}

static int is_loopback(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
    return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)addr)->sin6_addr);
}

/* The file of option opt, at most max bytes, NUL-terminated (malloc'd; *len
 * its bytes); secret: a file others may not read or write. */
static char *read_option_file(const char *opt, const char *path, size_t max, int secret, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        usage_error("serve: %s %s: %s", opt, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        usage_error("serve: %s %s: not a regular file", opt, path);
    if (secret && (st.st_mode & (S_IROTH | S_IWOTH)))
        usage_error("serve: %s %s: others may read or write it (mode %03o); chmod o-rw %s", opt, path,
                    (unsigned)(st.st_mode & 0777), path);
    char *text = malloc(max + 2);
    if (!text)
        dump_oom();
    size_t n = 0;
    ssize_t k = 0;
    while (n <= max && (k = read(fd, text + n, max + 1 - n)) > 0)
        n += (size_t)k;
    if (k < 0)
        usage_error("serve: %s %s: %s", opt, path, strerror(errno));
    close(fd);
    if (n > max)
        usage_error("serve: %s %s: larger than %zu bytes", opt, path, max);
    text[n] = '\0';
    *len = n;
    return text;
}

/* The token of --auth: a file only its owner (and group) may read. */
static void read_token(const char *path)
{
    size_t len;
    char *text = read_option_file("--auth", path, SERVE_TOKEN_MAX, 1, &len);
    memcpy(serve_token, text, len + 1);
    free(text);
    ssize_t n = (ssize_t)len;
    while (n > 0 && (serve_token[n - 1] == '\n' || serve_token[n - 1] == '\r' || serve_token[n - 1] == ' '))
        n--;
    serve_token[n] = '\0';
    if (n < 16 || strlen(serve_token) != (size_t)n)
        usage_error("serve: --auth %s: want one token of 16 to %d printable bytes", path, SERVE_TOKEN_MAX);
    serve_token_len = (size_t)n;
}

/* --tls-cert, --tls-key and --tls-client-ca as libmicrohttpd's options
 * into opt (room for 4); 1 when the server speaks TLS. */
static int tls_options(const struct cli *cli, struct MHD_OptionItem *opt)
{
    if (!cli->tls_cert && !cli->tls_key && !cli->tls_client_ca)
        return 0;
    if (!cli->tls_cert || !cli->tls_key)
        usage_error("serve: TLS wants both --tls-cert FILE and --tls-key FILE");
#if SERVE_TLS
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        usage_error("serve: this libmicrohttpd was built without TLS");
    size_t len;
    /* Kept for the server's life: libmicrohttpd reads them when it starts. */
    opt[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                     read_option_file("--tls-cert", cli->tls_cert, SERVE_PEM_MAX, 0, &len)};
    opt[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                     read_option_file("--tls-key", cli->tls_key, SERVE_PEM_MAX, 1, &len)};
    opt[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (cli->tls_client_ca) {
        opt[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
                                         read_option_file("--tls-client-ca", cli->tls_client_ca, SERVE_PEM_MAX, 0,
                                                          &len)};
        opt[3] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
        serve_client_certs = 1;
    }
    return 1;
#else
    (void)opt;
    usage_error("serve: this shmlog-dump was built without TLS (gnutls)");
    return 0;
#endif
}

int cmd_serve(struct cli *cli)
{
    const char *listen = cli->listen ? cli->listen : "127.0.0.1:8020";
    struct sockaddr_storage addr;
    if (parse_listen(listen, &addr) != 0)
        usage_error("serve: --listen wants ADDR:PORT ([V6]:PORT, or PORT on 127.0.0.1), not '%s'", listen);
    if (!is_loopback(&addr) && !cli->auth_file && !cli->tls_client_ca)
        usage_error("serve: --listen %s is not a loopback address: give --auth FILE (a bearer token) or "
                    "--tls-client-ca FILE (client certificates) too", listen);
    if (cli->auth_file)
        read_token(cli->auth_file);
    struct MHD_OptionItem tls[4] = {{MHD_OPTION_END, 0, NULL}};
    int https = tls_options(cli, tls);
    serve_paths = input_args(cli, &serve_npaths);
    for (int i = 0; i < serve_npaths; i++) {
        struct stat st;
        if (shlog_is_kafka_url(serve_paths[i]))
            usage_error("serve: %s: serve reads files; mirror the topic first (shmlog-dump mirror)", serve_paths[i]);
        if (stat_input(cli, serve_paths[i], &st) != 0)
            return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (serve_jobs_start(serve_paths, (size_t)serve_npaths, cli, SERVE_WORKERS) != 0)
        dump_oom();

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (https ? MHD_USE_TLS : 0);
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL; /* no FD_SETSIZE limit on the sockets */
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    uint16_t port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                     : ((struct sockaddr_in *)&addr)->sin_port);
    struct MHD_Daemon *d = MHD_start_daemon(flags, port, NULL, NULL, on_request, NULL,
                                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVE_CONNECTIONS,
                                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)SERVE_PER_IP_CONNECTIONS,
                                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVE_IDLE_TIMEOUT_S,
                                            MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "%s: serve: cannot listen on %s\n", dump_prog, listen);
        serve_jobs_stop();
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char shown[INET6_ADDRSTRLEN] = "?";
    if (addr.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, shown, sizeof shown);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, shown, sizeof shown);
    /* With port 0 this line is the only way to learn the port. */
    fprintf(stderr, "%s: serve: listening on http%s://%s%s%s:%u/\n", dump_prog, https ? "s" : "",
            addr.ss_family == AF_INET6 ? "[" : "",
            shown, addr.ss_family == AF_INET6 ? "]" : "", info ? (unsigned)info->port : (unsigned)port);
    fflush(stderr);
    while (!serve_stop)
        pause();
    serve_jobs_stop();
    MHD_stop_daemon(d);
    return 0;
}
