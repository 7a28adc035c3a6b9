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
static PyObject *json_fallback; /* _json._fallback: what dumps does when a model fails */
static PyObject *model_error;   /* pydantic_core.PydanticSerializationError */
static PyObject *repr_func;     /* _event._repr */
static PyObject *rebuild_func;  /* _event._rebuild, for pickle */
static PyObject *model_options; /* _json._MODEL_OPTIONS, or NULL when empty */
static PyObject *default_kwnames; /* ("default",) */
static PyObject *str_serializer;  /* "__pydantic_serializer__" */
static PyObject *str_to_json;     /* "to_json" */

static PyTypeObject EventType;

#define NOT_CONFIGURED() \
    PyErr_SetString(PyExc_RuntimeError, "sse_asgi._speedups is not configured")

/* ---- building ---------------------------------------------------------------- */

/* Whether the collector must track an event with these fields. Events
   built here hold str, int and bytes besides data, and nothing can make a
   cycle through those (tuples of atoms are untracked the same way); this
   saves the collector work on every data-less event. stored() accepts
   anything, hence the check. */
static int
needs_tracking(PyObject *const fields[N_FIELDS])
{
    if (fields[F_DATA] != NULL) {
        return 1;
    }
    for (int i = F_RAW_DATA; i < N_FIELDS; i++) {
        PyObject *value = fields[i];
        if (value != NULL && !PyUnicode_CheckExact(value) && !PyLong_CheckExact(value)) {
            return 1;
        }
    }
    return 0;
}

static void
set_fields(Event *self, PyObject *const fields[N_FIELDS], PyObject *encoded)
{
    PyObject **slots[N_FIELDS] = {&self->data, &self->raw_data, &self->event,
                                  &self->id, &self->retry, &self->comment};
    for (int i = 0; i < N_FIELDS; i++) {
        Py_XSETREF(*slots[i], Py_NewRef(fields[i] ? fields[i] : Py_None));
    }
    Py_XSETREF(self->encoded, Py_NewRef(encoded));
}

/* A new event holding these fields. `track`: whether the collector must
   track it (see needs_tracking), or -1 to work it out. */
static Event *
event_alloc(PyTypeObject *type, PyObject *const fields[N_FIELDS], PyObject *encoded, int track)
{
    /* The exact type skips tp_alloc's zeroing and tracking; tp_alloc
       tracks subclass instances, which may have a __dict__. */
    int exact = type == &EventType;
    Event *self = exact ? PyObject_GC_New(Event, type) : (Event *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    PyObject **slots[N_FIELDS] = {&self->data, &self->raw_data, &self->event,
                                  &self->id, &self->retry, &self->comment};
    for (int i = 0; i < N_FIELDS; i++) {
        *slots[i] = Py_NewRef(fields[i] ? fields[i] : Py_None);
    }
    self->encoded = Py_NewRef(encoded);
    if (exact && (track < 0 ? needs_tracking(fields) : track)) {
        PyObject_GC_Track(self);
    }
    return self;
}

/* The fields of a pure-Python instance (the reference result): new
   references, None as NULL; -1 with an exception set on failure. */
static int
fields_of_python(PyObject *instance, PyObject *fields[N_FIELDS], PyObject **encoded)
{
    static const char *const attrs[N_FIELDS] = {
        "_data", "_raw_data", "_event", "_id", "_retry", "_comment"};
    for (int i = 0; i < N_FIELDS; i++) {
        fields[i] = NULL;
    }
    *encoded = PyObject_GetAttrString(instance, "_encoded");
    if (*encoded == NULL) {
        return -1;
    }
    for (int i = 0; i < N_FIELDS; i++) {
        fields[i] = PyObject_GetAttrString(instance, attrs[i]);
        if (fields[i] == NULL) {
            for (int j = 0; j < i; j++) {
                Py_CLEAR(fields[j]);
            }
            Py_CLEAR(*encoded);
            return -1;
        }
        if (fields[i] == Py_None) {
            Py_CLEAR(fields[i]);
        }
    }
    return 0;
}

static void
release_fields(PyObject *fields[N_FIELDS], PyObject *encoded)
{
    for (int i = 0; i < N_FIELDS; i++) {
        Py_XDECREF(fields[i]);
    }
    Py_XDECREF(encoded);
}

static PyObject *
fallback(PyTypeObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (py_class == NULL) {
        NOT_CONFIGURED();
        return NULL;
    }
    PyObject *instance = PyObject_Vectorcall(py_class, args, nargsf, kwnames);
    if (instance == NULL) {
        return NULL;
    }
    PyObject *fields[N_FIELDS], *encoded;
    int failed = fields_of_python(instance, fields, &encoded);
    Py_DECREF(instance);
    if (failed) {
        return NULL;
    }
    PyObject *result = (PyObject *)event_alloc(type, fields, encoded, -1);
    release_fields(fields, encoded);
    return result;
}

/* The UTF-8 of an exact str. ASCII text is its own UTF-8 (no copy). For
   other text the bytes go to *holder, released by the caller: asking the
   str for its cached UTF-8 would keep a copy alive as long as the str --
   in a broadcast's history, that is for good. NULL, with no exception set,
   for a lone surrogate, which the Python class reports. */
static const char *
utf8_of(PyObject *text, Py_ssize_t *size, PyObject **holder)
{
    if (PyUnicode_IS_ASCII(text)) {
        *size = PyUnicode_GET_LENGTH(text);
        return (const char *)PyUnicode_DATA(text);
    }
    *holder = PyUnicode_AsUTF8String(text);
    if (*holder == NULL) {
        PyErr_Clear();
        return NULL;
    }
    *size = PyBytes_GET_SIZE(*holder);
    return PyBytes_AS_STRING(*holder);
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

/* A pydantic model's own JSON, exactly as _json.dumps gets it: the type's
   serializer's to_json (with _json.MODEL_OPTIONS), and _json._fallback if
   that raises PydanticSerializationError -- without a Python frame. Returns
   1 with *body set, 0 if `data` is no model (dumps() decides), -1 on error. */
static int
model_json(PyObject *data, PyObject **body)
{
    PyObject *serializer;
#if PY_VERSION_HEX >= 0x030D0000
    int found = PyObject_GetOptionalAttr((PyObject *)Py_TYPE(data), str_serializer, &serializer);
#else
    int found = _PyObject_LookupAttr((PyObject *)Py_TYPE(data), str_serializer, &serializer);
#endif
    if (found <= 0) {
        return found;
    }
    if (serializer == Py_None) {
        Py_DECREF(serializer);
        return 0;
    }
    if (model_options == NULL) {
        PyObject *call_args[2] = {serializer, data};
        *body = PyObject_VectorcallMethod(str_to_json, call_args,
                                          2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    else {
        PyObject *to_json = PyObject_GetAttr(serializer, str_to_json);
        *body = to_json ? PyObject_VectorcallDict(to_json, &data, 1, model_options) : NULL;
        Py_XDECREF(to_json);
    }
    Py_DECREF(serializer);
    if (*body == NULL && PyErr_ExceptionMatches(model_error)) {
        PyErr_Clear();
        *body = PyObject_CallOneArg(json_fallback, data);
    }
    return *body == NULL ? -1 : 1;
}

/* The JSON bytes of `data`, as _json.dumps produces them, or NULL with the
   exception set. */
static PyObject *
serialize(PyObject *data)
{
    /* _json.ORJSON_NATIVE, checked inline (None never gets here). */
    int native = PyDict_CheckExact(data) || PyList_CheckExact(data) || PyUnicode_CheckExact(data)
                 || PyLong_CheckExact(data) || PyFloat_CheckExact(data) || PyBool_Check(data)
                 || PyTuple_CheckExact(data);
    PyObject *body = NULL;
    if (native) {
        PyObject *call_args[2] = {data, json_default};
        body = PyObject_Vectorcall(orjson_dumps, call_args, 1, default_kwnames);
        if (body == NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear(); /* big ints, non-str keys, ...: dumps() knows them */
            body = PyObject_CallOneArg(dumps, data);
        }
    }
    else {
        int model = model_json(data, &body);
        if (model < 0) {
            return NULL;
        }
        if (model == 0) {
            body = PyObject_CallOneArg(dumps, data);
        }
    }
    if (body != NULL && !PyBytes_CheckExact(body)) {
        /* A hand-made serializer may return another bytes-like object: the
           Python class formats it through the buffer protocol too. */
        Py_SETREF(body, PyBytes_FromObject(body));
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
    PyObject *holders[4] = {NULL, NULL, NULL, NULL}; /* UTF-8 copies of non-ASCII text */
    PyObject *body = NULL, *encoded = NULL, *result = Py_NotImplemented;
    char retry[24];
    int nretry = 0, raw_lines = 0;

    if (f[F_DATA] != NULL && f[F_RAW_DATA] != NULL) {
        goto done;
    }
    if (f[F_COMMENT] != NULL) {
        if (!PyUnicode_CheckExact(f[F_COMMENT])
            || (comment = utf8_of(f[F_COMMENT], &ncomment, &holders[0])) == NULL) {
            goto done;
        }
    }
    if (f[F_EVENT] != NULL) {
        if (!PyUnicode_CheckExact(f[F_EVENT])
            || (event = utf8_of(f[F_EVENT], &nevent, &holders[1])) == NULL
            || has_break(event, nevent)) {
            goto done;
        }
    }
    if (f[F_ID] != NULL) {
        if (!PyUnicode_CheckExact(f[F_ID]) || (id = utf8_of(f[F_ID], &nid, &holders[2])) == NULL
            || has_break(id, nid) || memchr(id, '\0', nid) != NULL) {
            goto done;
        }
    }
    if (f[F_RETRY] != NULL) {
        if (!PyLong_CheckExact(f[F_RETRY])) {
            goto done;
        }
        int overflow;
        long long value = PyLong_AsLongLongAndOverflow(f[F_RETRY], &overflow);
        if (overflow || value < 0) {
            goto done;
        }
        nretry = snprintf(retry, sizeof(retry), "%lld", value);
    }
    if (f[F_RAW_DATA] != NULL) {
        if (!PyUnicode_CheckExact(f[F_RAW_DATA])
            || (raw = utf8_of(f[F_RAW_DATA], &nraw, &holders[3])) == NULL) {
            goto done;
        }
        raw_lines = has_break(raw, nraw);
    }

    /* Everything else is valid: serializing data is the last step, so that
       any error it raises is the one the Python class would raise. */
    result = NULL;
    if (f[F_DATA] != NULL && (body = serialize(f[F_DATA])) == NULL) {
        goto done;
    }

    /* Each part is at most a str's or bytes' size plus a few lines per
       character: summed in size_t, checked once. */
    size_t size = 1; /* the blank line */
    if (comment != NULL) {
        size += (size_t)lines_size(comment, ncomment, 2);
    }
    if (event != NULL) {
        size += 7 + (size_t)nevent + 1;
    }
    if (body != NULL) {
        size += 6 + (size_t)PyBytes_GET_SIZE(body) + 1;
    }
    else if (raw != NULL) {
        size += raw_lines ? (size_t)lines_size(raw, nraw, 6) : 6 + (size_t)nraw + 1;
    }
    if (id != NULL) {
        size += 4 + (size_t)nid + 1;
    }
    if (f[F_RETRY] != NULL) {
        size += 7 + (size_t)nretry + 1;
    }
    if (size > (size_t)PY_SSIZE_T_MAX) {
        PyErr_NoMemory();
        goto done;
    }

    encoded = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (encoded == NULL) {
        goto done;
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
    /* Besides data, the fields here are exact str and int: see needs_tracking. */
    result = (PyObject *)event_alloc(type, f, encoded, f[F_DATA] != NULL);

done:
    for (int i = 0; i < 4; i++) {
        Py_XDECREF(holders[i]);
    }
    Py_XDECREF(body);
    Py_XDECREF(encoded);
    return result;
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

/* Subclasses are built through tp_new and tp_init (tp_vectorcall is not
   inherited), so that a subclass's own __init__ can call super().__init__:
   tp_new makes an empty event, tp_init fills it as the Python class would. */
static PyObject *
event_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwargs))
{
    static PyObject *empty_event = NULL; /* b"\n": what ServerSentEvent() encodes to */
    if (empty_event == NULL && (empty_event = PyBytes_FromString("\n")) == NULL) {
        return NULL;
    }
    PyObject *fields[N_FIELDS] = {NULL};
    return (PyObject *)event_alloc(type, fields, empty_event, -1);
}

static int
event_init(Event *self, PyObject *args, PyObject *kwargs)
{
    if (py_class == NULL) {
        NOT_CONFIGURED();
        return -1;
    }
    PyObject *instance = PyObject_Call(py_class, args, kwargs);
    if (instance == NULL) {
        return -1;
    }
    PyObject *fields[N_FIELDS], *encoded;
    int failed = fields_of_python(instance, fields, &encoded);
    Py_DECREF(instance);
    if (failed) {
        return -1;
    }
    set_fields(self, fields, encoded);
    if (!PyObject_GC_IsTracked((PyObject *)self) && needs_tracking(fields)) {
        PyObject_GC_Track(self);
    }
    release_fields(fields, encoded);
    return 0;
}

/* ---- the object protocol ----------------------------------------------------- */

#define OR_NONE(field) ((field) != NULL ? (field) : Py_None)

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
    PyObject_GC_UnTrack(self);
    /* The trashcan bounds the C stack when a long chain of events (each the
       data of the next) is freed at once. A subclass's dealloc has its own,
       and releases its (heap) type after calling this. */
    Py_TRASHCAN_BEGIN(self, event_dealloc)
    event_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
    Py_TRASHCAN_END
}

/* The encoded bytes, or NULL with AttributeError once the collector has
   cleared the event (only a finalizer in a cycle can see that). */
static PyObject *
encoded_of(Event *self)
{
    if (self->encoded == NULL) {
        PyErr_SetString(PyExc_AttributeError, "this ServerSentEvent was cleared");
    }
    return self->encoded;
}

static PyObject *
fields_tuple(Event *self)
{
    return PyTuple_Pack(N_FIELDS, OR_NONE(self->data), OR_NONE(self->raw_data),
                        OR_NONE(self->event), OR_NONE(self->id), OR_NONE(self->retry),
                        OR_NONE(self->comment));
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
    PyObject *encoded = encoded_of(self);
    return encoded == NULL ? -1 : PyObject_Hash(encoded);
}

static PyObject *
event_repr(PyObject *self)
{
    return PyObject_CallOneArg(repr_func, self);
}

static PyObject *
event_encode(Event *self, PyObject *Py_UNUSED(ignored))
{
    return Py_XNewRef(encoded_of(self));
}

static PyObject *
event_reduce(Event *self, PyObject *Py_UNUSED(ignored))
{
    if (encoded_of(self) == NULL) {
        return NULL;
    }
    return Py_BuildValue("O(OOOOOOO)", rebuild_func, self->encoded, OR_NONE(self->data),
                         OR_NONE(self->raw_data), OR_NONE(self->event), OR_NONE(self->id),
                         OR_NONE(self->retry), OR_NONE(self->comment));
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
    .tp_init = (initproc)event_init,
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

/* What only the first configure() does: the type, and the interned names. */
static int
ready_type(PyObject *cls)
{
    /* The class docstring is the Python class's, behind a text signature. */
    static const char signature[] =
        "ServerSentEvent(*, data=None, raw_data=None, event=None, id=None, retry=None, "
        "comment=None)\n--\n\n";
    PyObject *doc = PyObject_GetAttrString(cls, "__doc__");
    if (doc == NULL) {
        return -1;
    }
    const char *text = PyUnicode_Check(doc) ? PyUnicode_AsUTF8(doc) : "";
    char *type_doc = text ? PyMem_RawMalloc(sizeof(signature) + strlen(text)) : NULL;
    if (type_doc == NULL) {
        Py_DECREF(doc);
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        return -1;
    }
    strcpy(type_doc, signature);
    strcat(type_doc, text);
    Py_DECREF(doc);
    EventType.tp_doc = type_doc; /* kept for the life of the process, like the type */
    if (PyType_Ready(&EventType) < 0) {
        return -1;
    }
    PyObject *name = PyUnicode_InternFromString("default");
    if (name == NULL) {
        return -1;
    }
    /* Interned, like the names in compiled code: callees compare by identity first. */
    default_kwnames = PyTuple_Pack(1, name);
    Py_DECREF(name);
    str_serializer = PyUnicode_InternFromString("__pydantic_serializer__");
    str_to_json = PyUnicode_InternFromString("to_json");
    if (default_kwnames == NULL || str_serializer == NULL || str_to_json == NULL) {
        return -1;
    }
    for (int i = 0; i < N_FIELDS; i++) {
        field_strs[i] = PyUnicode_InternFromString(field_names[i]);
        if (field_strs[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

/* Also called again when sse_asgi._event is reloaded: it then points the
   type at the new Python objects. */
static PyObject *
configure(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *cls, *o_dumps, *o_default, *j_dumps, *j_fallback, *error, *options, *repr,
        *rebuild;
    if (!PyArg_ParseTuple(args, "OOOOOOO!OO:configure", &cls, &o_dumps, &o_default, &j_dumps,
                          &j_fallback, &error, &PyDict_Type, &options, &repr, &rebuild)) {
        return NULL;
    }
    if (!(EventType.tp_flags & Py_TPFLAGS_READY) && ready_type(cls) < 0) {
        return NULL;
    }
    PyObject *options_copy = NULL;
    if (PyDict_GET_SIZE(options) > 0 && (options_copy = PyDict_Copy(options)) == NULL) {
        return NULL;
    }
    Py_XSETREF(model_options, options_copy);
    Py_XSETREF(orjson_dumps, Py_NewRef(o_dumps));
    Py_XSETREF(json_default, Py_NewRef(o_default));
    Py_XSETREF(dumps, Py_NewRef(j_dumps));
    Py_XSETREF(json_fallback, Py_NewRef(j_fallback));
    Py_XSETREF(model_error, Py_NewRef(error));
    Py_XSETREF(repr_func, Py_NewRef(repr));
    Py_XSETREF(rebuild_func, Py_NewRef(rebuild));
    Py_XSETREF(py_class, Py_NewRef(cls));
    return Py_NewRef((PyObject *)&EventType);
}

static PyObject *
stored(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 1 + N_FIELDS || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "stored(encoded: bytes, *six fields)");
        return NULL;
    }
    if (py_class == NULL) {
        NOT_CONFIGURED();
        return NULL;
    }
    PyObject *f[N_FIELDS];
    for (int i = 0; i < N_FIELDS; i++) {
        f[i] = args[1 + i] == Py_None ? NULL : args[1 + i];
    }
    return (PyObject *)event_alloc(&EventType, f, args[0], -1);
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(py_class, orjson_dumps, json_default, dumps, fallback, model_error, "
     "model_options, repr, rebuild)\n"
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
