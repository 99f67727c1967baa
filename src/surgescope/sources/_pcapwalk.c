/*
 * The record walk of classic pcap files (surgescope.sources._pcapwalk).
 *
 * Finding records is sequential (each record's caplen gives the next record's offset), so it
 * cannot be vectorised; _pcap_classic._walk_native did it in a tight Python loop, 0.12 s per
 * million records, holding the GIL while the streaming detector (`surgescope watch`) waited
 * for it on another thread. The same walk in C takes a few milliseconds and releases the GIL.
 * Only offsets are collected here; every check stays vectorised in _pcap_classic._complete.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t caplen_at(const uint8_t *p, int big) {
    if (big) return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

/* Positions of the caplen field of consecutive records, starting at byte 8; the last one is
 * where the next 4-byte caplen would run past n (its record is incomplete). out may be NULL
 * (count only). */
static Py_ssize_t walk(const uint8_t *buf, Py_ssize_t n, Py_ssize_t hdr, int big, int64_t *out) {
    Py_ssize_t k = 0;
    int64_t pos = 8;
    for (;;) {
        if (out) out[k] = pos;
        k++;
        if (pos + 4 > (int64_t)n) break;
        pos += (int64_t)hdr + caplen_at(buf + pos, big);
    }
    return k;
}

PyDoc_STRVAR(walk_doc,
"walk(buf, n, hdr, big_endian) -> bytes\n\n"
"Native int64 byte positions of the caplen field of consecutive records in buf[:n], records\n"
"having ``hdr``-byte headers, the first at byte 0; the last position is where the walk ran off\n"
"the buffer (as _pcap_classic._walk_native).");

static PyObject *py_walk(PyObject *self, PyObject *args) {
    Py_buffer b;
    Py_ssize_t n, hdr;
    int big;
    if (!PyArg_ParseTuple(args, "y*nnp", &b, &n, &hdr, &big)) return NULL;
    if (n < 0 || n > b.len || hdr < 16) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "n must be within the buffer and hdr at least 16");
        return NULL;
    }
    Py_ssize_t count;
    Py_BEGIN_ALLOW_THREADS
    count = walk(b.buf, n, hdr, big, NULL);
    Py_END_ALLOW_THREADS
    PyObject *out = PyBytes_FromStringAndSize(NULL, count * (Py_ssize_t)sizeof(int64_t));
    if (out != NULL) {
        int64_t *dst = (int64_t *)PyBytes_AS_STRING(out);
        Py_BEGIN_ALLOW_THREADS
        walk(b.buf, n, hdr, big, dst);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&b);
    return out;
}

static PyMethodDef methods[] = {
    {"walk", py_walk, METH_VARARGS, walk_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pcapwalk", "The record walk of classic pcap files (see _pcapwalk.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__pcapwalk(void) { return PyModule_Create(&module); }
