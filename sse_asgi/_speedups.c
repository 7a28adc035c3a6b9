/*
 * sse_asgi._speedups: ServerSentEvent construction in C.
 *
 * Why: building an event is on every stream's hot path, and on CPython a
 * Python __init__ with keyword arguments alone costs several times what
 * formatting the bytes does. This type takes its keyword arguments through
 * vectorcall and formats the bytes in one allocation.
 *
 * Semantics live in Python, not here. The pure-Python class in _event.py is
 * the reference: this type handles the common, valid shapes (exact str
 * fields, an exact non-negative int retry, data or raw_data) and hands every
 * other call -- positional arguments, unknown keywords, str subclasses,
 * invalid values, anything that must raise -- to that class, then copies the
 * fields it produced. So every error message, every normalization and every
 * byte is the Python class's; tests run the whole suite on both and compare
 * them on random input.
 *
 * Framing (WHATWG HTML, "Server-sent events", 9.2.5/9.2.6): fields in the
 * order comment, event, data, id, retry; "name: value\n"; a blank line ends
 * the event. CR, LF and CRLF -- and only those -- are line breaks; text
 * fields that may hold them (comment, raw_data) get one prefixed line per
 * line; single-line fields (event, id) holding them go to the Python class,
 * which rejects them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    PyObject *data;
    PyObject *raw_data;
    PyObject *event;
    PyObject *id;
    PyObject *retry;
    PyObject *comment;
    PyObject *encoded;
} Event;

enum { F_DATA, F_RAW_DATA, F_EVENT, F_ID, F_RETRY, F_COMMENT, N_FIELDS };

static const char *const field_names[N_FIELDS] = {
    "data", "raw_data", "event", "id", "retry", "comment"};
static PyObject *field_strs[N_FIELDS]; /* interned */

/* Set once by configure(): the Python side this type defers to. */
static PyObject *py_class;      /* the pure-Python ServerSentEvent */
static PyObject *orjson_dumps;  /* orjson.dumps */
static PyObject *json_default;  /* its default= hook */
static PyObject *dumps;         /* _json.dumps: everything orjson does not know */
static PyObject *repr_func;     /* _event._repr */
static PyObject *rebuild_func;  /* _event._rebuild, for pickle */
static PyObject *model_options; /* _json._MODEL_OPTIONS, or NULL when empty */
static PyObject *default_kwnames; /* ("default",) */
static PyObject *str_serializer;  /* "__pydantic_serializer__" */
static PyObject *str_to_json;     /* "to_json" */

static PyTypeObject EventType;

/* ---- building ---------------------------------------------------------------- */

static Event *
event_alloc(PyTypeObject *type, PyObject *const fields[N_FIELDS], PyObject *encoded)
{
    /* The exact type skips tp_alloc's zeroing and tracking: every field is
       set below, and tracking is decided below. */
    int exact = type == &EventType;
    Event *self = exact ? PyObject_GC_New(Event, type) : (Event *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    PyObject **slots[N_FIELDS] = {&self->data, &self->raw_data, &self->event,
                                  &self->id, &self->retry, &self->comment};
    for (int i = 0; i < N_FIELDS; i++) {
        PyObject *value = fields[i] ? fields[i] : Py_None;
        Py_INCREF(value);
        *slots[i] = value;
    }
    Py_INCREF(encoded);
    self->encoded = encoded;
    /* Without data, every field is a str, an int or bytes: no cycle can go
       through this object, so the collector need not track it (as tuples of
       atoms are untracked). tp_alloc tracked subclass instances, which may
       have a __dict__. */
    if (exact && fields[F_DATA] != NULL) {
        PyObject_GC_Track(self);
    }
    return self;
}

/* Copy the fields of a pure-Python instance (the reference result). */
static PyObject *
event_from_python(PyTypeObject *type, PyObject *instance)
{
    static const char *const attrs[N_FIELDS] = {
        "_data", "_raw_data", "_event", "_id", "_retry", "_comment"};
    PyObject *fields[N_FIELDS] = {NULL};
    PyObject *encoded = NULL;
    PyObject *result = NULL;
    for (int i = 0; i < N_FIELDS; i++) {
        fields[i] = PyObject_GetAttrString(instance, attrs[i]);
        if (fields[i] == NULL) {
            goto done;
        }
        if (fields[i] == Py_None) {
            Py_CLEAR(fields[i]);
        }
    }
    encoded = PyObject_GetAttrString(instance, "_encoded");
    if (encoded != NULL) {
        result = (PyObject *)event_alloc(type, fields, encoded);
    }
done:
    for (int i = 0; i < N_FIELDS; i++) {
        Py_XDECREF(fields[i]);
    }
    Py_XDECREF(encoded);
    return result;
}

static PyObject *
fallback(PyTypeObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (py_class == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "sse_asgi._speedups is not configured");
        return NULL;
    }
    PyObject *instance = PyObject_Vectorcall(py_class, args, nargsf, kwnames);
    if (instance == NULL) {
        return NULL;
    }
    PyObject *result = event_from_python(type, instance);
    Py_DECREF(instance);
    return result;
}

/* UTF-8 of an exact str, or NULL (no exception set) if it has none: a lone
   surrogate, which the Python class reports. */
static const char *
utf8_of(PyObject *text, Py_ssize_t *size)
{
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, size);
    if (utf8 == NULL) {
        PyErr_Clear();
    }
    return utf8;
}

static int
has_break(const char *s, Py_ssize_t n)
{
    return memchr(s, '\n', n) != NULL || memchr(s, '\r', n) != NULL;
}

/* Text split into lines on CR, LF and CRLF, found with memchr (SIMD in
   libc) rather than byte by byte. */
typedef struct {
    const char *p, *end, *nl, *cr;
} LineScan;

static void
scan_start(LineScan *scan, const char *s, Py_ssize_t n)
{
    scan->p = s;
    scan->end = s + n;
    scan->nl = memchr(s, '\n', n);
    scan->cr = memchr(s, '\r', n);
}

/* The next line as [*start, *start + *len); 0 after the last one. */
static int
scan_next(LineScan *scan, const char **start, Py_ssize_t *len)
{
    if (scan->p == NULL) {
        return 0;
    }
    const char *brk = scan->nl;
    if (scan->cr != NULL && (brk == NULL || scan->cr < brk)) {
        brk = scan->cr;
    }
    *start = scan->p;
    if (brk == NULL) {
        *len = scan->end - scan->p;
        scan->p = NULL;
        return 1;
    }
    *len = brk - scan->p;
    const char *p = brk + 1;
    if (*brk == '\r' && p < scan->end && *p == '\n') {
        p++;
    }
    if (scan->nl != NULL && scan->nl < p) {
        scan->nl = memchr(p, '\n', scan->end - p);
    }
    if (scan->cr != NULL && scan->cr < p) {
        scan->cr = memchr(p, '\r', scan->end - p);
    }
    scan->p = p;
    return 1;
}

/* Bytes needed for `text` as prefixed lines, one per line of it, each ending in LF. */
static Py_ssize_t
lines_size(const char *s, Py_ssize_t n, Py_ssize_t prefix)
{
    LineScan scan;
    const char *start;
    Py_ssize_t len, size = 0;
    scan_start(&scan, s, n);
    while (scan_next(&scan, &start, &len)) {
        size += prefix + len + 1;
    }
    return size;
}

static char *
write_lines(char *out, const char *s, Py_ssize_t n, const char *prefix, Py_ssize_t plen)
{
    LineScan scan;
    const char *start;
    Py_ssize_t len;
    scan_start(&scan, s, n);
    while (scan_next(&scan, &start, &len)) {
        memcpy(out, prefix, plen);
        out += plen;
        memcpy(out, start, len);
        out += len;
        *out++ = '\n';
    }
    return out;
}

static char *
write_field(char *out, const char *name, Py_ssize_t nlen, const char *value, Py_ssize_t vlen)
{
    memcpy(out, name, nlen);
    out += nlen;
    memcpy(out, value, vlen);
    out += vlen;
    *out++ = '\n';
    return out;
}

/* A pydantic model's own JSON, as _json.dumps gets it (its serializer's
   to_json with _json._MODEL_OPTIONS), without a Python frame; NULL, with no
   exception set, for anything else or on any error: dumps() then decides. */
static PyObject *
model_json(PyObject *data)
{
    PyObject *serializer;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyObject_GetOptionalAttr((PyObject *)Py_TYPE(data), str_serializer, &serializer) <= 0) {
#else
    if (_PyObject_LookupAttr((PyObject *)Py_TYPE(data), str_serializer, &serializer) <= 0) {
#endif
        PyErr_Clear();
        return NULL;
    }
    PyObject *body;
    if (model_options == NULL) {
        PyObject *call_args[2] = {serializer, data};
        body = PyObject_VectorcallMethod(str_to_json, call_args,
                                         2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    else {
        PyObject *to_json = PyObject_GetAttr(serializer, str_to_json);
        body = to_json ? PyObject_VectorcallDict(to_json, &data, 1, model_options) : NULL;
        Py_XDECREF(to_json);
    }
    Py_DECREF(serializer);
    if (body == NULL) {
        PyErr_Clear();
    }
    return body;
}

/* The JSON bytes of `data`, as _json.dumps would produce them, or NULL with
   the exception set. */
static PyObject *
serialize(PyObject *data)
{
    /* _json.ORJSON_NATIVE, checked inline (None never gets here). */
    int native = PyDict_CheckExact(data) || PyList_CheckExact(data) || PyUnicode_CheckExact(data)
                 || PyLong_CheckExact(data) || PyFloat_CheckExact(data) || PyBool_Check(data)
                 || PyTuple_CheckExact(data);
    PyObject *body;
    if (native) {
        PyObject *call_args[2] = {data, json_default};
        body = PyObject_Vectorcall(orjson_dumps, call_args, 1, default_kwnames);
        if (body == NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear(); /* big ints, non-str keys, ...: dumps() knows them */
            body = PyObject_CallOneArg(dumps, data);
        }
    }
    else if ((body = model_json(data)) == NULL) {
        body = PyObject_CallOneArg(dumps, data);
    }
    if (body != NULL && !PyBytes_CheckExact(body)) {
        PyErr_Format(PyExc_TypeError, "serializer returned %.200s, not bytes",
                     Py_TYPE(body)->tp_name);
        Py_CLEAR(body);
    }
    return body;
}

/* Build an event from keyword values (NULL = not given or None); returns
   Py_NotImplemented (borrowed) when the Python class must decide. */
static PyObject *
build(PyTypeObject *type, PyObject *const f[N_FIELDS])
{
    const char *comment = NULL, *event = NULL, *id = NULL, *raw = NULL;
    Py_ssize_t ncomment = 0, nevent = 0, nid = 0, nraw = 0;
    char retry[24];
    int nretry = 0, raw_lines = 0;

    if (f[F_DATA] != NULL && f[F_RAW_DATA] != NULL) {
        return Py_NotImplemented;
    }
    if (f[F_COMMENT] != NULL) {
        if (!PyUnicode_CheckExact(f[F_COMMENT])
            || (comment = utf8_of(f[F_COMMENT], &ncomment)) == NULL) {
            return Py_NotImplemented;
        }
    }
    if (f[F_EVENT] != NULL) {
        if (!PyUnicode_CheckExact(f[F_EVENT])
            || (event = utf8_of(f[F_EVENT], &nevent)) == NULL
            || has_break(event, nevent)) {
            return Py_NotImplemented;
        }
    }
    if (f[F_ID] != NULL) {
        if (!PyUnicode_CheckExact(f[F_ID]) || (id = utf8_of(f[F_ID], &nid)) == NULL
            || has_break(id, nid) || memchr(id, '\0', nid) != NULL) {
            return Py_NotImplemented;
        }
    }
    if (f[F_RETRY] != NULL) {
        if (!PyLong_CheckExact(f[F_RETRY])) {
            return Py_NotImplemented;
        }
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(f[F_RETRY], &overflow);
        if (overflow || value < 0) {
            return Py_NotImplemented;
        }
        nretry = snprintf(retry, sizeof(retry), "%lld", value);
    }
    if (f[F_RAW_DATA] != NULL) {
        if (!PyUnicode_CheckExact(f[F_RAW_DATA])
            || (raw = utf8_of(f[F_RAW_DATA], &nraw)) == NULL) {
            return Py_NotImplemented;
        }
        raw_lines = has_break(raw, nraw);
    }

    /* Everything else is valid: serializing data is the last step, so that
       any error it raises is the one the Python class would raise. */
    PyObject *body = NULL;
    if (f[F_DATA] != NULL && (body = serialize(f[F_DATA])) == NULL) {
        return NULL;
    }

    Py_ssize_t size = 1; /* the blank line */
    if (comment != NULL) {
        size += lines_size(comment, ncomment, 2);
    }
    if (event != NULL) {
        size += 7 + nevent + 1;
    }
    if (body != NULL) {
        size += 6 + PyBytes_GET_SIZE(body) + 1;
    }
    else if (raw != NULL) {
        size += raw_lines ? lines_size(raw, nraw, 6) : 6 + nraw + 1;
    }
    if (id != NULL) {
        size += 4 + nid + 1;
    }
    if (f[F_RETRY] != NULL) {
        size += 7 + nretry + 1;
    }

    PyObject *encoded = PyBytes_FromStringAndSize(NULL, size);
    if (encoded == NULL) {
        Py_XDECREF(body);
        return NULL;
    }
    char *out = PyBytes_AS_STRING(encoded);
    if (comment != NULL) {
        out = write_lines(out, comment, ncomment, ": ", 2);
    }
    if (event != NULL) {
        out = write_field(out, "event: ", 7, event, nevent);
    }
    if (body != NULL) {
        out = write_field(out, "data: ", 6, PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body));
        Py_DECREF(body);
    }
    else if (raw != NULL) {
        out = raw_lines ? write_lines(out, raw, nraw, "data: ", 6)
                        : write_field(out, "data: ", 6, raw, nraw);
    }
    if (id != NULL) {
        out = write_field(out, "id: ", 4, id, nid);
    }
    if (f[F_RETRY] != NULL) {
        out = write_field(out, "retry: ", 7, retry, nretry);
    }
    *out++ = '\n';
    assert(out == PyBytes_AS_STRING(encoded) + size);

    PyObject *self = (PyObject *)event_alloc(type, f, encoded);
    Py_DECREF(encoded);
    return self;
}

static int
field_index(PyObject *name)
{
    for (int i = 0; i < N_FIELDS; i++) {
        if (name == field_strs[i]) {
            return i;
        }
    }
    for (int i = 0; i < N_FIELDS; i++) {
        if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, field_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static PyObject *
event_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    PyObject *f[N_FIELDS] = {NULL};
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (py_class == NULL || nargs != 0) {
        return fallback((PyTypeObject *)type, args, nargsf, kwnames);
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < nkw; i++) {
        int index = field_index(PyTuple_GET_ITEM(kwnames, i));
        if (index < 0) {
            return fallback((PyTypeObject *)type, args, nargsf, kwnames);
        }
        PyObject *value = args[i];
        f[index] = value == Py_None ? NULL : value;
    }
    PyObject *result = build((PyTypeObject *)type, f);
    if (result == Py_NotImplemented) {
        return fallback((PyTypeObject *)type, args, nargsf, kwnames);
    }
    return result;
}

/* Subclasses are called through tp_new (tp_vectorcall is not inherited). */
static PyObject *
event_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (py_class == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "sse_asgi._speedups is not configured");
        return NULL;
    }
    PyObject *instance = PyObject_Call(py_class, args, kwargs);
    if (instance == NULL) {
        return NULL;
    }
    PyObject *result = event_from_python(type, instance);
    Py_DECREF(instance);
    return result;
}

/* ---- the object protocol ----------------------------------------------------- */

static int
event_traverse(Event *self, visitproc visit, void *arg)
{
    Py_VISIT(self->data);
    Py_VISIT(self->raw_data);
    Py_VISIT(self->event);
    Py_VISIT(self->id);
    Py_VISIT(self->retry);
    Py_VISIT(self->comment);
    Py_VISIT(self->encoded);
    return 0;
}

static int
event_clear(Event *self)
{
    Py_CLEAR(self->data);
    Py_CLEAR(self->raw_data);
    Py_CLEAR(self->event);
    Py_CLEAR(self->id);
    Py_CLEAR(self->retry);
    Py_CLEAR(self->comment);
    Py_CLEAR(self->encoded);
    return 0;
}

static void
event_dealloc(Event *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    event_clear(self);
    /* A subclass's own dealloc releases its (heap) type after calling this. */
    type->tp_free((PyObject *)self);
}

static PyObject *
fields_tuple(Event *self)
{
    return PyTuple_Pack(N_FIELDS, self->data, self->raw_data, self->event, self->id,
                        self->retry, self->comment);
}

static PyObject *
event_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || Py_TYPE(a) != Py_TYPE(b)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *left = fields_tuple((Event *)a);
    PyObject *right = left ? fields_tuple((Event *)b) : NULL;
    PyObject *result = right ? PyObject_RichCompare(left, right, op) : NULL;
    Py_XDECREF(left);
    Py_XDECREF(right);
    return result;
}

static Py_hash_t
event_hash(Event *self)
{
    return PyObject_Hash(self->encoded);
}

static PyObject *
event_repr(PyObject *self)
{
    return PyObject_CallOneArg(repr_func, self);
}

static PyObject *
event_encode(Event *self, PyObject *Py_UNUSED(ignored))
{
    Py_INCREF(self->encoded);
    return self->encoded;
}

static PyObject *
event_reduce(Event *self, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("O(OOOOOOO)", rebuild_func, self->encoded, self->data,
                         self->raw_data, self->event, self->id, self->retry, self->comment);
}

static PyMethodDef event_methods[] = {
    {"encode", (PyCFunction)event_encode, METH_NOARGS,
     "encode($self, /)\n--\n\n"
     "The event as ``text/event-stream`` bytes: LF line endings, ending in a blank line."},
    {"__reduce__", (PyCFunction)event_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

#define MEMBER(name, field, doc) \
    {name, T_OBJECT, offsetof(Event, field), READONLY, doc}

static PyMemberDef event_members[] = {
    MEMBER("data", data, "The value sent JSON-encoded in the ``data`` field, or ``None``."),
    MEMBER("raw_data", raw_data, "The text sent unencoded in ``data`` fields, or ``None``."),
    MEMBER("event", event, "The event type, or ``None`` (the client then sees ``\"message\"``)."),
    MEMBER("id", id, "The event id, or ``None`` (the client keeps its previous last event id)."),
    MEMBER("retry", retry, "The reconnection delay in milliseconds, or ``None``."),
    MEMBER("comment", comment, "The comment text, or ``None``."),
    MEMBER("_encoded", encoded, NULL),
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject EventType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sse_asgi._event.ServerSentEvent",
    .tp_basicsize = sizeof(Event),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = event_new,
    .tp_alloc = PyType_GenericAlloc,
    .tp_free = PyObject_GC_Del,
    .tp_vectorcall = event_vectorcall,
    .tp_traverse = (traverseproc)event_traverse,
    .tp_clear = (inquiry)event_clear,
    .tp_dealloc = (destructor)event_dealloc,
    .tp_richcompare = event_richcompare,
    .tp_hash = (hashfunc)event_hash,
    .tp_repr = event_repr,
    .tp_methods = event_methods,
    .tp_members = event_members,
};

/* ---- module ------------------------------------------------------------------ */

static char *type_doc = NULL;

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *cls, *o_dumps, *o_default, *j_dumps, *options, *repr, *rebuild;
    if (!PyArg_ParseTuple(args, "OOOOO!OO:configure", &cls, &o_dumps, &o_default, &j_dumps,
                          &PyDict_Type, &options, &repr, &rebuild)) {
        return NULL;
    }
    if (py_class != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "sse_asgi._speedups is already configured");
        return NULL;
    }
    /* The class docstring is the Python class's, behind a text signature. */
    PyObject *doc = PyObject_GetAttrString(cls, "__doc__");
    if (doc == NULL) {
        return NULL;
    }
    const char *signature =
        "ServerSentEvent(*, data=None, raw_data=None, event=None, id=None, retry=None, "
        "comment=None)\n--\n\n";
    const char *text = PyUnicode_Check(doc) ? PyUnicode_AsUTF8(doc) : "";
    if (text == NULL) {
        Py_DECREF(doc);
        return NULL;
    }
    type_doc = PyMem_RawMalloc(strlen(signature) + strlen(text) + 1);
    if (type_doc == NULL) {
        Py_DECREF(doc);
        return PyErr_NoMemory();
    }
    strcpy(type_doc, signature);
    strcat(type_doc, text);
    Py_DECREF(doc);
    EventType.tp_doc = type_doc;
    if (PyType_Ready(&EventType) < 0) {
        return NULL;
    }
    /* Interned, like the names in compiled code: callees compare by identity first. */
    PyObject *name = PyUnicode_InternFromString("default");
    if (name == NULL) {
        return NULL;
    }
    default_kwnames = PyTuple_Pack(1, name);
    Py_DECREF(name);
    if (default_kwnames == NULL) {
        return NULL;
    }
    for (int i = 0; i < N_FIELDS; i++) {
        field_strs[i] = PyUnicode_InternFromString(field_names[i]);
        if (field_strs[i] == NULL) {
            return NULL;
        }
    }
    Py_INCREF(o_dumps);
    orjson_dumps = o_dumps;
    Py_INCREF(o_default);
    json_default = o_default;
    Py_INCREF(j_dumps);
    dumps = j_dumps;
    str_serializer = PyUnicode_InternFromString("__pydantic_serializer__");
    str_to_json = PyUnicode_InternFromString("to_json");
    if (str_serializer == NULL || str_to_json == NULL) {
        return NULL;
    }
    if (PyDict_GET_SIZE(options) > 0) {
        model_options = PyDict_Copy(options);
        if (model_options == NULL) {
            return NULL;
        }
    }
    Py_INCREF(repr);
    repr_func = repr;
    Py_INCREF(rebuild);
    rebuild_func = rebuild;
    Py_INCREF(cls);
    py_class = cls;
    Py_INCREF(&EventType);
    return (PyObject *)&EventType;
}

static PyObject *
stored(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 1 + N_FIELDS || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "stored(encoded: bytes, *six fields)");
        return NULL;
    }
    if (py_class == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "sse_asgi._speedups is not configured");
        return NULL;
    }
    PyObject *f[N_FIELDS];
    for (int i = 0; i < N_FIELDS; i++) {
        f[i] = args[1 + i] == Py_None ? NULL : args[1 + i];
    }
    return (PyObject *)event_alloc(&EventType, f, args[0]);
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(py_class, orjson_dumps, json_default, dumps, model_options, repr, rebuild)\n"
     "--\n\nReady the type, deferring to the pure-Python class; returns the type."},
    {"stored", (PyCFunction)(void (*)(void))stored, METH_FASTCALL,
     "stored(encoded, data, raw_data, event, id, retry, comment)\n--\n\n"
     "An event from already-encoded bytes and its fields, unchecked."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sse_asgi._speedups",
    .m_doc = "ServerSentEvent construction in C; see sse_asgi/_event.py.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module_def);
}
