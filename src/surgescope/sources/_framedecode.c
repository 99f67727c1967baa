/*
 * One-pass decoding of the common frames of a capture (surgescope.sources._framedecode).
 *
 * _decode.decode gathers every header field with NumPy at per-frame offsets: each field is a
 * fancy-index gather, a few masks and a scatter over the whole batch, some twenty passes over
 * a million frames (0.15 CPU-s of the reader's 0.28 on the watch benchmark's capture). Here a
 * frame is read once, its fields written as it goes, with the GIL released so the streaming
 * detector keeps working on its own thread.
 *
 * Only the common case is decoded: one link type among Ethernet, raw IP, raw IPv4, SLL and
 * SLL2; frames that are IPv4 (any IHL; TCP, UDP, ICMP or other) or not IP at all. Anything
 * else -- IPv6, a header the NumPy decoder would reject, another link type -- makes the call
 * return -1 and the caller decodes the whole batch with NumPy, the reference. Every check
 * below restates one of _decode.py's, so the output is the same field for field; no byte is
 * read past a frame's captured end.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { LT_ETHERNET = 1, LT_RAW_12 = 12, LT_RAW_14 = 14, LT_RAW = 101, LT_SLL = 113, LT_IPV4 = 228, LT_SLL2 = 276 };
enum { PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17 };
#define MAX_VLAN_TAGS 3

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)(((uint16_t)p[0] << 8) | p[1]); }
static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The output columns, in the order of the Python call; each holds one item per frame except
 * src and dst (one per IPv4 frame, in frame order, as _decode._ipv4 returns them). */
enum {
    O_KIND, O_IP_VERSION, O_PROTO, O_TTL, O_IP_LEN, O_IP_ID, O_IP_ID_OK, O_FRAG_MORE, O_FRAG_OFFSET,
    O_SRC_PORT, O_DST_PORT, O_PORTS_OK, O_TCP_FLAGS, O_FLAGS_OK, O_ICMP_TYPE, O_ICMP_CODE, O_ICMP_OK,
    O_PAYLOAD, O_PAYLOAD_OK, O_SRC, O_DST, N_OUT
};
static const Py_ssize_t ITEMSIZE[N_OUT] = {1, 1, 1, 1, 4, 4, 1, 1, 2, 2, 2, 1, 2, 1, 1, 1, 1, 8, 1, 4, 4};

typedef struct {
    int8_t *kind;
    uint8_t *ip_version, *proto, *ttl, *ip_id_ok, *frag_more, *ports_ok, *flags_ok;
    uint8_t *icmp_type, *icmp_code, *icmp_ok, *payload_ok;
    uint32_t *ip_len, *ip_id, *src, *dst;
    uint16_t *frag_offset, *src_port, *dst_port, *tcp_flags;
    int64_t *payload;
} Out;

static int is_tpid(uint16_t et) { return et == 0x8100 || et == 0x88A8 || et == 0x9100; }

/* Fills every column of every frame; the number of IPv4 frames, or -1 at the first frame the
 * NumPy decoder must see (nothing written then matters: the caller discards it). */
static inline __attribute__((always_inline)) Py_ssize_t run(int lt, const uint8_t *restrict buf, Py_ssize_t buflen, const int64_t *restrict start,
                      const int64_t *restrict caplen, Py_ssize_t n, const Out *o) {
    /* Local restrict copies: byte-wide stores may alias anything (char aliasing), which
     * would otherwise oblige the compiler to reload every pointer after each store. */
    int8_t *restrict kind = o->kind;
    uint8_t *restrict ip_version = o->ip_version, *restrict proto_ = o->proto, *restrict ttl_ = o->ttl;
    uint8_t *restrict ip_id_ok = o->ip_id_ok, *restrict frag_more = o->frag_more, *restrict ports_ok_ = o->ports_ok;
    uint8_t *restrict flags_ok_ = o->flags_ok, *restrict icmp_type = o->icmp_type, *restrict icmp_code = o->icmp_code;
    uint8_t *restrict icmp_ok_ = o->icmp_ok, *restrict payload_ok = o->payload_ok;
    uint32_t *restrict ip_len = o->ip_len, *restrict ip_id = o->ip_id, *restrict src = o->src, *restrict dst = o->dst;
    uint16_t *restrict frag_offset = o->frag_offset, *restrict src_port = o->src_port, *restrict dst_port = o->dst_port;
    uint16_t *restrict tcp_flags = o->tcp_flags;
    int64_t *restrict payload_ = o->payload;
    Py_ssize_t n4 = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = start[i], cl = caplen[i];
        if (s < 0 || cl < 0 || s > (int64_t)buflen || cl > (int64_t)buflen - s) return -1;
        const int64_t end = s + cl;
        int64_t p;  /* network header offset */
        int v4;
        if (lt == LT_ETHERNET || lt == LT_SLL || lt == LT_SLL2) {
            int64_t hdr = lt == LT_ETHERNET ? 14 : lt == LT_SLL ? 16 : 20;
            if (s + hdr > end) return -1;  /* truncated link-layer header */
            uint16_t et = be16(buf + s + (lt == LT_ETHERNET ? 12 : lt == LT_SLL ? 14 : 0));
            p = s + hdr;
            for (int t = 0; t < MAX_VLAN_TAGS && is_tpid(et) && p + 4 <= end; t++) {
                et = be16(buf + p + 2);
                p += 4;
            }
            if (et == 0x86DD) return -1;  /* IPv6: NumPy's */
            v4 = et == 0x0800;
        } else {  /* raw IP: the version nibble says what follows */
            p = s;
            if (p >= end || (buf[p] >> 4) != 4) return -1;  /* truncated, IPv6 or bad version */
            v4 = 1;
        }

        uint8_t ver = 0, proto = 0, ttl = 0, id_ok = 0, more = 0;
        uint8_t ports_ok = 0, flags_ok = 0, icmp_ok = 0, pl_ok = 0, itype = 0, icode = 0;
        uint16_t foff = 0, sport = 0, dport = 0, tflags = 0;
        uint32_t total = 0, ipid = 0;
        int64_t payload = 0;
        if (v4) {
            const uint8_t *h = buf + p;
            if (p + 20 > end || (h[0] >> 4) != 4) return -1;
            int64_t ihl = (int64_t)(h[0] & 0x0F) * 4;
            if (ihl < 20 || p + ihl > end) return -1;
            ver = 4;
            total = be16(h + 2);
            ipid = be16(h + 4);
            id_ok = 1;
            uint16_t fl = be16(h + 6);
            more = (fl & 0x2000) != 0;
            foff = fl & 0x1FFF;
            ttl = h[8];
            proto = h[9];
            src[n4] = be32(h + 12);
            dst[n4] = be32(h + 16);
            n4++;
            if (foff == 0) {  /* transport header only in first fragments */
                const int64_t tp = p + ihl;
                const int64_t ie = (int64_t)total >= ihl ? p + total : -1;  /* total 0 (TSO): unknown */
                const uint8_t *th = buf + tp;
                const int is_tcp = proto == PROTO_TCP, is_udp = proto == PROTO_UDP;
                if ((is_tcp || is_udp) && tp + 4 <= end) {
                    sport = be16(th);
                    dport = be16(th + 2);
                    ports_ok = 1;
                }
                if (is_tcp && tp + 14 <= end) {
                    tflags = th[13];
                    flags_ok = 1;
                }
                if (is_tcp && tp + 13 <= end && ie >= 0) {
                    int64_t doff = (int64_t)(th[12] >> 4) * 4;
                    int64_t pl = ie - tp - doff;
                    if (doff >= 20 && pl >= 0) {
                        payload = pl;
                        pl_ok = 1;
                    }
                } else if (is_udp && ie >= 0 && ie - tp - 8 >= 0) {
                    payload = ie - tp - 8;
                    pl_ok = 1;
                }
                if (proto == PROTO_ICMP && tp + 2 <= end) {
                    itype = th[0];
                    icode = th[1];
                    icmp_ok = 1;
                }
            }
        }
        kind[i] = v4 ? 4 : 0;
        ip_version[i] = ver;
        proto_[i] = proto;
        ttl_[i] = ttl;
        ip_len[i] = total;
        ip_id[i] = ipid;
        ip_id_ok[i] = id_ok;
        frag_more[i] = more;
        frag_offset[i] = foff;
        src_port[i] = sport;
        dst_port[i] = dport;
        ports_ok_[i] = ports_ok;
        tcp_flags[i] = tflags;
        flags_ok_[i] = flags_ok;
        icmp_type[i] = itype;
        icmp_code[i] = icode;
        icmp_ok_[i] = icmp_ok;
        payload_[i] = payload;
        payload_ok[i] = pl_ok;
    }
    return n4;
}

/* run with the link type a constant, so each case compiles to its own loop without the
 * per-frame link-type tests. */
static Py_ssize_t run_lt(int lt, const uint8_t *buf, Py_ssize_t buflen, const int64_t *start, const int64_t *caplen,
                         Py_ssize_t n, const Out *o) {
    switch (lt) {
    case LT_ETHERNET: return run(LT_ETHERNET, buf, buflen, start, caplen, n, o);
    case LT_SLL: return run(LT_SLL, buf, buflen, start, caplen, n, o);
    case LT_SLL2: return run(LT_SLL2, buf, buflen, start, caplen, n, o);
    default: return run(LT_RAW, buf, buflen, start, caplen, n, o);
    }
}

PyDoc_STRVAR(decode_doc,
"decode(linktype, buf, start, caplen, out) -> int\n\n"
"Decode the frames buf[start[i] : start[i] + caplen[i]] (start, caplen: native int64) of one\n"
"link type into the writable buffers of the tuple ``out``: kind (int8: 0 not IP, 4 IPv4),\n"
"ip_version, proto, ttl, ip_len, ip_id, ip_id_ok, frag_more, frag_offset, src_port, dst_port,\n"
"ports_ok, tcp_flags, flags_ok, icmp_type, icmp_code, icmp_ok, payload (int64), payload_ok,\n"
"src, dst (uint32, one per IPv4 frame), as _decode._Columns holds them. Returns the number of\n"
"IPv4 frames, or -1 when the batch holds anything else (the caller decodes it with NumPy).");

static PyObject *py_decode(PyObject *self, PyObject *args) {
    int lt;
    Py_buffer b, bs, bc;
    PyObject *outs;
    if (!PyArg_ParseTuple(args, "iy*y*y*O!", &lt, &b, &bs, &bc, &PyTuple_Type, &outs)) return NULL;
    Py_buffer ob[N_OUT];
    int got = 0;
    PyObject *result = NULL;
    Py_ssize_t n = bs.len / (Py_ssize_t)sizeof(int64_t);
    if (bs.len % (Py_ssize_t)sizeof(int64_t) || bc.len != bs.len) {
        PyErr_SetString(PyExc_ValueError, "start and caplen must be int64 arrays of one length");
        goto done;
    }
    if (PyTuple_GET_SIZE(outs) != N_OUT) {
        PyErr_Format(PyExc_ValueError, "out must hold %d buffers", N_OUT);
        goto done;
    }
    for (; got < N_OUT; got++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(outs, got), &ob[got], PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) goto done;
        /* src and dst may be longer than the IPv4 frames; n is their upper bound */
        if (ob[got].len != n * ITEMSIZE[got] && !((got == O_SRC || got == O_DST) && ob[got].len >= n * ITEMSIZE[got])) {
            PyErr_Format(PyExc_ValueError, "out[%d] must be %zd bytes", got, n * ITEMSIZE[got]);
            got++;
            goto done;
        }
    }
    if (lt != LT_ETHERNET && lt != LT_RAW && lt != LT_RAW_12 && lt != LT_RAW_14 && lt != LT_IPV4 && lt != LT_SLL
        && lt != LT_SLL2) {
        result = PyLong_FromLong(-1);
        goto done;
    }
    Out o = {
        .kind = ob[O_KIND].buf, .ip_version = ob[O_IP_VERSION].buf, .proto = ob[O_PROTO].buf, .ttl = ob[O_TTL].buf,
        .ip_len = ob[O_IP_LEN].buf, .ip_id = ob[O_IP_ID].buf, .ip_id_ok = ob[O_IP_ID_OK].buf,
        .frag_more = ob[O_FRAG_MORE].buf, .frag_offset = ob[O_FRAG_OFFSET].buf, .src_port = ob[O_SRC_PORT].buf,
        .dst_port = ob[O_DST_PORT].buf, .ports_ok = ob[O_PORTS_OK].buf, .tcp_flags = ob[O_TCP_FLAGS].buf,
        .flags_ok = ob[O_FLAGS_OK].buf, .icmp_type = ob[O_ICMP_TYPE].buf, .icmp_code = ob[O_ICMP_CODE].buf,
        .icmp_ok = ob[O_ICMP_OK].buf, .payload = ob[O_PAYLOAD].buf, .payload_ok = ob[O_PAYLOAD_OK].buf,
        .src = ob[O_SRC].buf, .dst = ob[O_DST].buf,
    };
    Py_ssize_t n4;
    Py_BEGIN_ALLOW_THREADS
    n4 = run_lt(lt, b.buf, b.len, bs.buf, bc.buf, n, &o);
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(n4);
done:
    for (int k = 0; k < got; k++) PyBuffer_Release(&ob[k]);
    PyBuffer_Release(&b);
    PyBuffer_Release(&bs);
    PyBuffer_Release(&bc);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", py_decode, METH_VARARGS, decode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_framedecode", "One-pass decoding of common frames (see _framedecode.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__framedecode(void) { return PyModule_Create(&module); }
