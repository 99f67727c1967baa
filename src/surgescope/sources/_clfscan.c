/*
 * Plain CLF/combined access-log lines, scanned in one pass (surgescope.sources._clfscan).
 *
 * Why hand-written C: the Polars route (regexes with capture groups, then strptime, casts and
 * quote splitting, each a pass over the chunk) measured 2.6 CPU-s per 2 M combined lines, the
 * larger part of `surgescope analyze` (bench/bench_reader_paths.py; the target is 10x
 * GoAccess, about 7 CPU-s for the whole command). One byte-wise pass does it in a fraction:
 * reading the 2 M-line bench log took 1.3 CPU-s with this scanner, 3.1 with the plain Polars
 * route and 3.4 with the regexes alone (bench/bench_reader_paths.py, median of 2).
 *
 * Scope, kept deliberately narrow: a line is taken here only when it has the plain shape that
 * accesslog._plain documents (the three head words, an exact `DD/Mon/YYYY:HH:MM:SS +ZZZZ` time
 * within the years nanoseconds hold, a three-word request `METHOD PATH HTTP/x`, status, bytes,
 * and for combined a quoted referer and user agent, no backslash), ASCII in the head. Every other
 * line is left (ok = 0) to the Polars route, which decides whether to accept, repair or reject it.
 * Where this scanner accepts a line, it must produce exactly the values the Polars route would:
 * tests/test_accesslog.py reads the same inputs through both and compares.
 *
 * Input: the lines of one chunk as an Arrow string_view array (its 16-byte views and its data
 * buffers, as Polars exports them, each line with its newline). Output: per line an ok flag, the
 * UTC time in nanoseconds, status, bytes (-1 for "-"), and for each text field a 16-byte Arrow
 * view pointing into the same data buffers (no text is copied), plus a flag for "-" fields.
 * The GIL is released while scanning, so the reader's threads scan chunks on every core.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { F_IP, F_METHOD, F_PATH, F_PROTO, F_REF, F_UA, NFIELDS }; /* named in FIELDS (module init) */

#define MAX_BUFFERS 64

typedef struct {
    const uint8_t *data[MAX_BUFFERS];
    Py_ssize_t nbuf;
} buffers;

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static const char MONTHS[12][3] = {
    {'J', 'a', 'n'}, {'F', 'e', 'b'}, {'M', 'a', 'r'}, {'A', 'p', 'r'}, {'M', 'a', 'y'}, {'J', 'u', 'n'},
    {'J', 'u', 'l'}, {'A', 'u', 'g'}, {'S', 'e', 'p'}, {'O', 'c', 't'}, {'N', 'o', 'v'}, {'D', 'e', 'c'},
};

static int digits(const uint8_t *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

/* Seconds of the UTC range nanoseconds since 1970 can hold, as accesslog.in_ns_range: [1678, 2262). */
static int64_t first_s, end_s;

/* "DD/Mon/YYYY:HH:MM:SS +ZZZZ" (exactly 26 bytes) -> UTC nanoseconds; 0 when not that exact
 * shape, not a real date or time, or out of range (the Polars route then judges the line). */
static int clf_time(const uint8_t *p, int64_t *ns) {
    int d, y, hh, mm, ss, oh, om, mon = -1;
    if (!digits(p, 2, &d) || p[2] != '/' || p[6] != '/' || !digits(p + 7, 4, &y) || p[11] != ':' ||
        !digits(p + 12, 2, &hh) || p[14] != ':' || !digits(p + 15, 2, &mm) || p[17] != ':' ||
        !digits(p + 18, 2, &ss) || p[20] != ' ' || (p[21] != '+' && p[21] != '-') ||
        !digits(p + 22, 2, &oh) || !digits(p + 24, 2, &om))
        return 0;
    for (int i = 0; i < 12 && mon < 0; i++)
        if (p[3] == MONTHS[i][0] && p[4] == MONTHS[i][1] && p[5] == MONTHS[i][2]) mon = i + 1;
    if (mon < 0 || d < 1 || hh > 23 || mm > 59 || ss > 59 || oh > 23 || om > 59) return 0;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mon - 1] || (mon == 2 && d == 29 && !leap)) return 0;
    int64_t offset = (int64_t)(oh * 3600 + om * 60) * (p[21] == '-' ? -1 : 1);
    int64_t s = days_from_civil(y, mon, d) * 86400 + hh * 3600 + mm * 60 + ss - offset;
    if (s < first_s || s >= end_s) return 0;
    *ns = s * 1000000000LL;
    return 1;
}

/* A head byte: printable ASCII, not space, quote or backslash (a subset of the regexes'
 * [^\s"] and [^ "\\\n], so where this accepts, they capture the same). */
static inline int word_byte(uint8_t c) { return c > ' ' && c < 0x7f && c != '"' && c != '\\'; }

/* A canonical dotted quad (no leading zeros, each part <= 255) -> 1 and its number. Anything
 * else (IPv6, a hostname, "010.0.0.1") -> 0: the Polars side parses and canonicalises those. */
static int canonical_v4(const uint8_t *p, int32_t n, uint32_t *out) {
    uint32_t v = 0;
    int32_t i = 0;
    for (int part = 0; part < 4; part++) {
        int32_t s = i;
        uint32_t x = 0;
        while (i < n && i - s < 4 && p[i] >= '0' && p[i] <= '9') x = x * 10 + (uint32_t)(p[i++] - '0');
        if (i == s || i - s > 3 || x > 255 || (p[s] == '0' && i - s > 1)) return 0;
        v = (v << 8) | x;
        if (part < 3) {
            if (i >= n || p[i] != '.') return 0;
            i++;
        }
    }
    if (i != n) return 0;
    *out = v;
    return 1;
}

/* The caller keeps off + start within int32 (a view's offset field). */
static void set_view(uint8_t *v, const uint8_t *line, int32_t buf, int32_t off, int32_t start, int32_t len) {
    memset(v, 0, 16);
    memcpy(v, &len, 4);
    if (len <= 12) {
        memcpy(v + 4, line + start, (size_t)len);
    } else {
        int32_t o = off + start;
        memcpy(v + 4, line + start, 4);
        memcpy(v + 8, &buf, 4);
        memcpy(v + 12, &o, 4);
    }
}

/* The last time text parsed and its value: a log's lines come in time order, many in the same
 * second, so most lines repeat the previous line's time text. */
typedef struct {
    uint8_t text[26];
    int64_t ns;
    int valid;
} time_cache;

/* One line; 1 when plain. starts/lens receive each field's place within the line. */
static int scan(const uint8_t *p, int32_t n, int combined, time_cache *tc, int64_t *ts, int32_t *status,
                int64_t *nbytes, int32_t *starts, int32_t *lens) {
    int32_t i = 0;
    /* ip, ident, user: words separated by single spaces */
    for (int w = 0; w < 3; w++) {
        int32_t s = i;
        while (i < n && word_byte(p[i])) i++;
        if (i == s || i >= n || p[i] != ' ') return 0;
        if (w == 0) { starts[F_IP] = s; lens[F_IP] = i - s; }
        i++;
    }
    if (i + 30 > n || p[i] != '[') return 0;
    if (tc->valid && memcmp(tc->text, p + i + 1, 26) == 0) {
        *ts = tc->ns;
    } else {
        if (!clf_time(p + i + 1, ts)) return 0;
        memcpy(tc->text, p + i + 1, 26);
        tc->ns = *ts;
        tc->valid = 1;
    }
    i += 27;
    if (p[i] != ']' || p[i + 1] != ' ' || p[i + 2] != '"') return 0;
    i += 3;
    /* METHOD PATH HTTP/x" */
    for (int f = F_METHOD; f <= F_PATH; f++) {
        int32_t s = i;
        while (i < n && word_byte(p[i])) i++;
        if (i == s || i >= n || p[i] != ' ') return 0;
        starts[f] = s; lens[f] = i - s;
        i++;
    }
    if (i + 5 > n || memcmp(p + i, "HTTP/", 5) != 0) return 0;
    {
        int32_t s = i;
        i += 5;
        while (i < n && word_byte(p[i])) i++;
        if (i >= n || p[i] != '"') return 0;
        starts[F_PROTO] = s; lens[F_PROTO] = i - s;
        i++;
    }
    /* " STATUS BYTES" */
    if (i + 6 > n || p[i] != ' ') return 0;
    int st;
    if (!digits(p + i + 1, 3, &st) || p[i + 4] != ' ') return 0;
    *status = st;
    i += 5;
    if (p[i] == '-') {
        *nbytes = -1;
        i++;
    } else {
        int32_t s = i;
        int64_t v = 0;
        /* at most 18 digits, which int64 holds; a longer number is left to the Polars route,
         * which makes it null (stopping at 19 keeps the sum from overflowing first) */
        while (i < n && i - s < 19 && p[i] >= '0' && p[i] <= '9') v = v * 10 + (p[i++] - '0');
        if (i == s || i - s > 18) return 0;
        *nbytes = v;
    }
    if (!combined) {
        /* then " ", a line end, or the end of the text */
        return i == n || p[i] == ' ' || p[i] == '\n' || (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n');
    }
    /* ' "REFERER" "USER AGENT"' and anything after, without backslash (checked on the whole
     * line by the caller). memchr, not a byte loop: measured 1.8x faster on the whole scan. A
     * line's only newline is its last byte, so a closing quote found means none inside. */
    if (i + 2 > n || p[i] != ' ' || p[i + 1] != '"') return 0;
    i += 2;
    for (int f = F_REF; f <= F_UA; f++) {
        const uint8_t *q = memchr(p + i, '"', (size_t)(n - i));
        if (q == NULL) return 0;
        starts[f] = i; lens[f] = (int32_t)(q - p) - i;
        i = (int32_t)(q - p) + 1;
        if (f == F_REF) {
            if (i + 2 > n || p[i] != ' ' || p[i + 1] != '"') return 0;
            i += 2;
        }
    }
    return 1;
}

static int is_dash(const uint8_t *p, int32_t len) { return len == 1 && p[0] == '-'; }

typedef struct {
    Py_buffer b;
    int held;
} held_buffer;

static int take(PyObject *o, held_buffer *h, int writable, Py_ssize_t need, const char *what) {
    if (PyObject_GetBuffer(o, &h->b, writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS : PyBUF_C_CONTIGUOUS) < 0) return 0;
    h->held = 1;
    if (h->b.len < need) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, need %zd", what, h->b.len, need);
        return 0;
    }
    return 1;
}

PyDoc_STRVAR(scan_doc,
"scan(views, data, n, combined, ok, ts, status, nbytes, fields, dash, lo) -> int\n\n"
"Scan n lines given as Arrow string_view ``views`` (16 bytes each) over the buffers in the\n"
"tuple ``data``; fill the writable outputs: ``ok`` (u8[n]), ``ts`` (i64[n], UTC ns),\n"
"``status`` (i32[n]), ``nbytes`` (i64[n], -1 for '-'), ``fields`` (u8[6*n*16]: views of ip,\n"
"method, path, protocol, referer, user agent) and ``dash`` (u8[6*n], 1 where the field is\n"
"'-') and ``lo`` (u64[n]: where the client address is a canonical dotted quad, the low half\n"
"of its IPv4-mapped form, as surgescope.ipaddr holds it; else 0, which no address has).\n"
"Returns the number of plain lines.");

static PyObject *py_scan(PyObject *self, PyObject *args) {
    PyObject *views_o, *data_o, *ok_o, *ts_o, *status_o, *nbytes_o, *fields_o, *dash_o, *v4_o;
    Py_ssize_t n;
    int combined;
    if (!PyArg_ParseTuple(args, "OO!npOOOOOOO", &views_o, &PyTuple_Type, &data_o, &n, &combined, &ok_o, &ts_o,
                          &status_o, &nbytes_o, &fields_o, &dash_o, &v4_o))
        return NULL;
    if (n < 0 || n > PY_SSIZE_T_MAX / (16 * NFIELDS)) {
        PyErr_SetString(PyExc_ValueError, "n out of range");
        return NULL;
    }
    Py_ssize_t nbuf = PyTuple_GET_SIZE(data_o);
    if (nbuf > MAX_BUFFERS) {
        PyErr_SetString(PyExc_ValueError, "too many data buffers");
        return NULL;
    }
    held_buffer hs[8 + MAX_BUFFERS];
    memset(hs, 0, sizeof hs);
    PyObject *result = NULL;
    buffers bufs;
    Py_ssize_t buflen[MAX_BUFFERS];
    bufs.nbuf = nbuf;
    if (!take(views_o, &hs[0], 0, n * 16, "views") || !take(ok_o, &hs[1], 1, n, "ok") ||
        !take(ts_o, &hs[2], 1, n * 8, "ts") || !take(status_o, &hs[3], 1, n * 4, "status") ||
        !take(nbytes_o, &hs[4], 1, n * 8, "nbytes") || !take(fields_o, &hs[5], 1, n * 16 * NFIELDS, "fields") ||
        !take(dash_o, &hs[6], 1, n * NFIELDS, "dash") || !take(v4_o, &hs[7], 1, n * 8, "lo"))
        goto done;
    for (Py_ssize_t k = 0; k < nbuf; k++) {
        if (!take(PyTuple_GET_ITEM(data_o, k), &hs[8 + k], 0, 0, "data")) goto done;
        bufs.data[k] = hs[8 + k].b.buf;
        buflen[k] = hs[8 + k].b.len;
    }
    const uint8_t *views = hs[0].b.buf;
    uint8_t *ok = hs[1].b.buf, *fields = hs[5].b.buf, *dash = hs[6].b.buf;
    int64_t *ts = hs[2].b.buf, *nbytes = hs[4].b.buf;
    int32_t *status = hs[3].b.buf;
    uint64_t *lo = hs[7].b.buf;
    Py_ssize_t plain = 0;
    time_cache tc = {{0}, 0, 0};
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < n; r++) {
        const uint8_t *v = views + r * 16;
        int32_t len, buf = 0, off = 0;
        memcpy(&len, v, 4);
        const uint8_t *line = NULL;
        if (len > 12) {
            memcpy(&buf, v + 8, 4);
            memcpy(&off, v + 12, 4);
            /* a view outside its buffer is not ours to read, and a line ending past 2 GiB
             * would give field offsets int32 cannot hold: leave those lines to Polars */
            if (buf >= 0 && buf < nbuf && off >= 0 && (Py_ssize_t)off + len <= buflen[buf] && (int64_t)off + len <= INT32_MAX)
                line = bufs.data[buf] + off;
        }
        int32_t starts[NFIELDS] = {0}, lens[NFIELDS] = {0};
        /* combined: no backslash anywhere in the line, and no newline before its last byte
         * (as accesslog._plain checks; through read() a line's only newline is its last byte) */
        int good = line != NULL &&
                   !(combined && (memchr(line, '\\', (size_t)len) != NULL || memchr(line, '\n', (size_t)len - 1) != NULL)) &&
                   scan(line, len, combined, &tc, &ts[r], &status[r], &nbytes[r], starts, lens);
        ok[r] = (uint8_t)good;
        for (int f = 0; f < NFIELDS; f++) {
            uint8_t *out = fields + ((Py_ssize_t)f * n + r) * 16;
            if (good) {
                set_view(out, line, buf, off, starts[f], lens[f]);
                dash[f * n + r] = (uint8_t)is_dash(line + starts[f], lens[f]);
            } else {
                memset(out, 0, 16);
                dash[f * n + r] = 0;
            }
        }
        uint32_t v4;
        lo[r] = good && canonical_v4(line + starts[F_IP], lens[F_IP], &v4) ? 0xFFFF00000000ULL | v4 : 0;
        plain += good;
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(plain);
done:
    for (int k = 0; k < 8 + MAX_BUFFERS; k++)
        if (hs[k].held) PyBuffer_Release(&hs[k].b);
    return result;
}

PyDoc_STRVAR(lines_doc,
"lines(data, views) -> int\n\n"
"Lay Arrow string views (16 bytes each, into the writable ``views``) over the lines of ``data``\n"
"(at most 2 GiB), each line with its newline; a last line without one is a line too, so size\n"
"``views`` with count(data) + 1 rows unless data ends with a newline. Returns the number of\n"
"lines; ValueError if ``views`` is too small.");

/* Lines of a chunk as string views over the chunk itself: what accesslog._lines_frame did with
 * NumPy (a newline mask, its nonzero, offsets) and Polars' conversion of those offsets to views,
 * in one memchr pass (measured: the read's main thread spent most of its time there). */
static PyObject *py_lines(PyObject *self, PyObject *args) {
    PyObject *data_o, *views_o;
    if (!PyArg_ParseTuple(args, "OO", &data_o, &views_o)) return NULL;
    held_buffer d = {0}, v = {0};
    PyObject *result = NULL;
    if (!take(data_o, &d, 0, 0, "data") || !take(views_o, &v, 1, 0, "views")) goto done;
    if (d.b.len > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "data larger than 2 GiB");
        goto done;
    }
    const uint8_t *p = d.b.buf;
    uint8_t *out = v.b.buf;
    Py_ssize_t room = v.b.len / 16, n = 0, len = d.b.len;
    int overflow = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t at = 0;
    while (at < len) {
        const uint8_t *nl = memchr(p + at, '\n', (size_t)(len - at));
        Py_ssize_t end = nl ? (nl - p) + 1 : len;
        if (n >= room) {
            overflow = 1;
            break;
        }
        set_view(out + n * 16, p, 0, 0, (int32_t)at, (int32_t)(end - at));
        n++;
        at = end;
    }
    Py_END_ALLOW_THREADS
    if (overflow)
        PyErr_SetString(PyExc_ValueError, "more lines than views");
    else
        result = PyLong_FromSsize_t(n);
done:
    if (d.held) PyBuffer_Release(&d.b);
    if (v.held) PyBuffer_Release(&v.b);
    return result;
}

PyDoc_STRVAR(count_doc,
"count(data) -> int\n\n"
"The number of newlines in ``data`` (memchr: bytes.count measured 5x slower on a 16 MiB chunk).");

static PyObject *py_count(PyObject *self, PyObject *args) {
    PyObject *data_o;
    if (!PyArg_ParseTuple(args, "O", &data_o)) return NULL;
    held_buffer d = {0};
    if (!take(data_o, &d, 0, 0, "data")) {
        if (d.held) PyBuffer_Release(&d.b);
        return NULL;
    }
    const uint8_t *p = d.b.buf;
    Py_ssize_t len = d.b.len, n = 0, at = 0;
    Py_BEGIN_ALLOW_THREADS
    while (at < len) {
        const uint8_t *nl = memchr(p + at, '\n', (size_t)(len - at));
        if (!nl) break;
        n++;
        at = (nl - p) + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&d.b);
    return PyLong_FromSsize_t(n);
}

static PyMethodDef methods[] = {
    {"count", py_count, METH_VARARGS, count_doc},
    {"scan", py_scan, METH_VARARGS, scan_doc},
    {"lines", py_lines, METH_VARARGS, lines_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_clfscan", "Plain CLF/combined lines scanned in one pass (see _clfscan.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__clfscan(void) {
    first_s = days_from_civil(1678, 1, 1) * 86400;
    end_s = days_from_civil(2262, 1, 1) * 86400;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    /* The field order of scan()'s outputs (the F_ enum) and the buffer bound, for the Python side. */
    PyObject *fields = Py_BuildValue("(ssssss)", "ip", "method", "path", "protocol", "referer", "ua");
    if (fields == NULL || PyModule_AddObject(m, "FIELDS", fields) < 0 ||
        PyModule_AddIntConstant(m, "MAX_BUFFERS", MAX_BUFFERS) < 0) {
        Py_XDECREF(fields);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
