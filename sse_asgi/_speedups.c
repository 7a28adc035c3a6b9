/*
 * sse_asgi._speedups: ServerSentEvent construction in C, the compiled twin of
 * sse_asgi/_event_py.py (same public names: ServerSentEvent, rebuild) and of
 * the frame layout sse_asgi/_encoder.py owns (event_frame): the one place
 * outside the encoder that writes frame bytes (see the encoder's docstring).
 * sse_asgi/_event.py chooses between the two twins.
 *
 * Why: building an event is on every stream's hot path, and on CPython a
 * Python __init__ with keyword arguments alone costs several times what
 * formatting the bytes does. This type takes its keyword arguments through
 * vectorcall and formats the bytes in one allocation.
 *
 * Semantics live in Python, not here. The pure-Python class is the
 * reference: this type handles the common, valid shapes (exact str fields,
 * an exact non-negative int retry, data or raw_data) and hands every other
 * call -- positional arguments, unknown keywords, str subclasses, invalid
 * values, anything that must raise -- to that class, then copies the fields
 * it produced through its public properties. So every error message, every
 * normalization and every byte is the Python class's; the tests run the
 * whole suite on both and compare them on random input.
 *
 * What it needs from Python it imports itself when the module is executed
 * (PEP 489 multi-phase initialization): the reference class, and
 * sse_asgi._json's serializers, so the JSON is always exactly what
 * sse_asgi._json produces. Everything lives in the module state, set once
 * there and only read afterwards; events are immutable once built. That is
 * what lets the module declare that it does not need the GIL (Py_mod_gil).
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
    int initialized; /* 0 only between tp_new and the first __init__ */
} Event;

enum { F_DATA, F_RAW_DATA, F_EVENT, F_ID, F_RETRY, F_COMMENT, N_FIELDS };

static const char *const field_names[N_FIELDS] = {
    "data", "raw_data", "event", "id", "retry", "comment"};

typedef struct {
    PyTypeObject *event_type;
    PyObject *py_class;        /* sse_asgi._event_py.ServerSentEvent: the reference */
    PyObject *orjson_dumps;    /* orjson.dumps */
    PyObject *json_default;    /* sse_asgi._json.json_default: its default= hook */
    PyObject *dumps;           /* sse_asgi._json.dumps: everything orjson does not know */
    PyObject *json_fallback;   /* sse_asgi._json.json_fallback: when a model's serializer fails */
    PyObject *model_options;   /* sse_asgi._json.MODEL_OPTIONS, or NULL when empty */
    PyObject *orjson_native;   /* sse_asgi._json.ORJSON_NATIVE: types orjson serializes itself */
    PyObject *model_error;     /* pydantic_core.PydanticSerializationError */
    PyObject *orjson_option;   /* sse_asgi._json.ORJSON_OPTION */
    PyObject *default_kwnames; /* ("default", "option") */
    PyObject *str_serializer;  /* "__pydantic_serializer__" */
    PyObject *str_to_json;     /* "to_json" */
    PyObject *str_encode;      /* "encode" */
    PyObject *empty;           /* b"\n": what an event without fields encodes to */
    PyObject *field_strs[N_FIELDS]; /* interned: keywords compare by identity first */
} State;

static struct PyModuleDef module_def;

static inline State *
module_state(PyObject *module)
{
    return (State *)PyModule_GetState(module);
}

/* The state of the module that defined `type` or the base it inherits from
   (a subclass's __init__ reaches here with the subclass). */
static State *
state_of_type(PyTypeObject *type)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *module = PyType_GetModuleByDef(type, &module_def);
    return module == NULL ? NULL : module_state(module);
#else
    /* Python 3.10 has no PyType_GetModuleByDef: the same walk over the MRO. */
    PyObject *mro = type->tp_mro;
    for (Py_ssize_t i = 0; mro != NULL && i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (!PyType_HasFeature(base, Py_TPFLAGS_HEAPTYPE)) {
            continue;
        }
        PyObject *module = ((PyHeapTypeObject *)base)->ht_module;
        if (module != NULL && PyModule_GetDef(module) == &module_def) {
            return module_state(module);
        }
    }
    PyErr_Format(PyExc_TypeError, "%s is not a ServerSentEvent type", type->tp_name);
    return NULL;
#endif
}

/* ---- building ---------------------------------------------------------------- */

/* Whether the collector must track an event with these fields. Events
   built here hold str, int and bytes besides data, and nothing can make a
   cycle through those (tuples of atoms are untracked the same way); this
   saves the collector work on every data-less event. rebuild() accepts
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

/* A new event holding these fields (NULL = None). `track`: whether the
   collector must track it (see needs_tracking), or -1 to work it out. */
static Event *
event_alloc(State *state, PyTypeObject *type, PyObject *const fields[N_FIELDS],
            PyObject *encoded, int track)
{
    /* The exact type skips tp_alloc's zeroing and tracking; tp_alloc
       tracks subclass instances, which may have a __dict__. */
    int exact = type == state->event_type;
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
    self->initialized = 1;
    if (exact && (track < 0 ? needs_tracking(fields) : track)) {
        PyObject_GC_Track(self);
    }
    return self;
}

/* The fields of a pure-Python instance (the reference result), read through
   its public properties and encode(): new references, None as NULL; -1
   with an exception set on failure. */
static int
fields_of_python(State *state, PyObject *instance, PyObject *fields[N_FIELDS],
                 PyObject **encoded)
{
    for (int i = 0; i < N_FIELDS; i++) {
        fields[i] = NULL;
    }
    *encoded = PyObject_CallMethodNoArgs(instance, state->str_encode);
    if (*encoded == NULL) {
        return -1;
    }
    for (int i = 0; i < N_FIELDS; i++) {
        fields[i] = PyObject_GetAttr(instance, state->field_strs[i]);
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

/* The call, made by the Python class; its result copied into a new event. */
static PyObject *
fallback(State *state, PyTypeObject *type, PyObject *const *args, size_t nargsf,
         PyObject *kwnames)
{
    PyObject *instance = PyObject_Vectorcall(state->py_class, args, nargsf, kwnames);
    if (instance == NULL) {
        return NULL;
    }
    PyObject *fields[N_FIELDS], *encoded;
    int failed = fields_of_python(state, instance, fields, &encoded);
    Py_DECREF(instance);
    if (failed) {
        return NULL;
    }
    PyObject *result = (PyObject *)event_alloc(state, type, fields, encoded, -1);
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

/* A pydantic model's own JSON, as sse_asgi._json.dumps gets it for a model
   at the top: its type's serializer's to_json with MODEL_OPTIONS, and
   json_fallback if that raises PydanticSerializationError -- without a
   Python frame. Returns 1 with *body set, 0 if `data` is no model (dumps()
   decides), -1 on error. */
static int
model_json(State *state, PyObject *data, PyObject **body)
{
    PyObject *serializer;
#if PY_VERSION_HEX >= 0x030D0000
    int found = PyObject_GetOptionalAttr((PyObject *)Py_TYPE(data), state->str_serializer,
                                         &serializer);
#else
    int found = _PyObject_LookupAttr((PyObject *)Py_TYPE(data), state->str_serializer,
                                     &serializer);
#endif
    if (found <= 0) {
        return found;
    }
    if (serializer == Py_None) {
        Py_DECREF(serializer);
        return 0;
    }
    if (state->model_options == NULL) {
        PyObject *call_args[2] = {serializer, data};
        *body = PyObject_VectorcallMethod(state->str_to_json, call_args,
                                          2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    else {
        PyObject *to_json = PyObject_GetAttr(serializer, state->str_to_json);
        *body = to_json ? PyObject_VectorcallDict(to_json, &data, 1, state->model_options)
                        : NULL;
        Py_XDECREF(to_json);
    }
    Py_DECREF(serializer);
    if (*body == NULL && PyErr_ExceptionMatches(state->model_error)) {
        PyErr_Clear();
        *body = PyObject_CallOneArg(state->json_fallback, data);
    }
    return *body == NULL ? -1 : 1;
}

/* The JSON bytes of `data` as the Python class gets them, or NULL with the
   exception set. */
static PyObject *
serialize(State *state, PyObject *data)
{
    int native = PySequence_Contains(state->orjson_native, (PyObject *)Py_TYPE(data));
    if (native < 0) {
        return NULL;
    }
    PyObject *body = NULL;
    if (native) {
        PyObject *call_args[3] = {data, state->json_default, state->orjson_option};
        body = PyObject_Vectorcall(state->orjson_dumps, call_args, 1, state->default_kwnames);
        if (body == NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear(); /* big ints, non-str keys, ...: dumps() knows them */
            body = PyObject_CallOneArg(state->dumps, data);
        }
    }
    else {
        int model = model_json(state, data, &body);
        if (model < 0) {
            return NULL;
        }
        if (model == 0) {
            body = PyObject_CallOneArg(state->dumps, data);
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
build(State *state, PyTypeObject *type, PyObject *const f[N_FIELDS])
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
    if (f[F_DATA] != NULL && (body = serialize(state, f[F_DATA])) == NULL) {
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
    result = (PyObject *)event_alloc(state, type, f, encoded, f[F_DATA] != NULL);

done:
    for (int i = 0; i < 4; i++) {
        Py_XDECREF(holders[i]);
    }
    Py_XDECREF(body);
    Py_XDECREF(encoded);
    return result;
}

static int
field_index(State *state, PyObject *name)
{
    for (int i = 0; i < N_FIELDS; i++) {
        if (name == state->field_strs[i]) {
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

/* Calls of the exact type (tp_vectorcall is not inherited by subclasses). */
static PyObject *
event_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    State *state = PyType_GetModuleState((PyTypeObject *)type);
    if (state == NULL) {
        return NULL;
    }
    PyObject *f[N_FIELDS] = {NULL};
    if (PyVectorcall_NARGS(nargsf) != 0) {
        return fallback(state, (PyTypeObject *)type, args, nargsf, kwnames);
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < nkw; i++) {
        int index = field_index(state, PyTuple_GET_ITEM(kwnames, i));
        if (index < 0) {
            return fallback(state, (PyTypeObject *)type, args, nargsf, kwnames);
        }
        PyObject *value = args[i];
        f[index] = value == Py_None ? NULL : value;
    }
    PyObject *result = build(state, (PyTypeObject *)type, f);
    if (result == Py_NotImplemented) {
        return fallback(state, (PyTypeObject *)type, args, nargsf, kwnames);
    }
    return result;
}

/* Subclasses are built through tp_new and tp_init, so that a subclass's own
   __init__ can call super().__init__: tp_new makes an empty event, tp_init
   fills it as the Python class would -- once. */
static PyObject *
event_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwargs))
{
    State *state = state_of_type(type);
    if (state == NULL) {
        return NULL;
    }
    PyObject *fields[N_FIELDS] = {NULL};
    Event *self = event_alloc(state, type, fields, state->empty, -1);
    if (self != NULL) {
        self->initialized = 0;
    }
    return (PyObject *)self;
}

static int
init_once(Event *self, PyObject *fields[N_FIELDS], PyObject *encoded)
{
    /* An event is immutable: __init__ fills the empty event tp_new made, and
       refuses to change a built one -- other threads may be reading it. */
    if (self->initialized) {
        PyErr_SetString(PyExc_TypeError,
                        "ServerSentEvent is immutable: __init__ cannot run again on an event");
        return -1;
    }
    PyObject **slots[N_FIELDS] = {&self->data, &self->raw_data, &self->event,
                                  &self->id, &self->retry, &self->comment};
    for (int i = 0; i < N_FIELDS; i++) {
        Py_XSETREF(*slots[i], Py_NewRef(fields[i] ? fields[i] : Py_None));
    }
    Py_XSETREF(self->encoded, Py_NewRef(encoded));
    self->initialized = 1;
    if (!PyObject_GC_IsTracked((PyObject *)self) && needs_tracking(fields)) {
        PyObject_GC_Track(self);
    }
    return 0;
}

static int
event_init(Event *self, PyObject *args, PyObject *kwargs)
{
    State *state = state_of_type(Py_TYPE(self));
    if (state == NULL) {
        return -1;
    }
    PyObject *instance = PyObject_Call(state->py_class, args, kwargs);
    if (instance == NULL) {
        return -1;
    }
    PyObject *fields[N_FIELDS], *encoded;
    int result = fields_of_python(state, instance, fields, &encoded);
    Py_DECREF(instance);
    if (result < 0) {
        return -1;
    }
#ifdef Py_GIL_DISABLED
    Py_BEGIN_CRITICAL_SECTION(self);
#endif
    result = init_once(self, fields, encoded);
#ifdef Py_GIL_DISABLED
    Py_END_CRITICAL_SECTION();
#endif
    release_fields(fields, encoded);
    return result;
}

/* ---- the object protocol ----------------------------------------------------- */

#define OR_NONE(field) ((field) != NULL ? (field) : Py_None)

static int
event_traverse(Event *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self)); /* instances of a heap type own a reference to it */
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
    /* The trashcan bounds the C stack when a long chain of events (each the
       data of the next) is freed at once. A Python subclass's dealloc has
       its own, and calls this one. */
    Py_TRASHCAN_BEGIN(self, event_dealloc)
    event_clear(self);
    type->tp_free((PyObject *)self);
    /* The instance's reference to its type: for a Python subclass too,
       whose dealloc leaves that to a heap base type's. */
    Py_DECREF(type);
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

/* "ServerSentEvent(data=..., event=...)": the fields that are not None, in
   field order, under the instance's own class name. */
static PyObject *
event_repr(Event *self)
{
    PyObject *values[N_FIELDS] = {self->data,  self->raw_data, self->event,
                                  self->id,    self->retry,    self->comment};
    PyObject *parts = PyList_New(0), *name = NULL, *joined = NULL, *result = NULL;
    if (parts == NULL) {
        return NULL;
    }
    for (int i = 0; i < N_FIELDS; i++) {
        if (values[i] == NULL || values[i] == Py_None) {
            continue;
        }
        PyObject *part = PyUnicode_FromFormat("%s=%R", field_names[i], values[i]);
        if (part == NULL || PyList_Append(parts, part) < 0) {
            Py_XDECREF(part);
            goto done;
        }
        Py_DECREF(part);
    }
    PyObject *separator = PyUnicode_FromString(", ");
    joined = separator ? PyUnicode_Join(separator, parts) : NULL;
    Py_XDECREF(separator);
    name = joined ? PyObject_GetAttrString((PyObject *)Py_TYPE(self), "__name__") : NULL;
    if (name != NULL) {
        result = PyUnicode_FromFormat("%S(%U)", name, joined);
    }
done:
    Py_DECREF(parts);
    Py_XDECREF(joined);
    Py_XDECREF(name);
    return result;
}

static PyObject *
event_encode(Event *self, PyObject *Py_UNUSED(ignored))
{
    return Py_XNewRef(encoded_of(self));
}

/* A pickle names sse_asgi._pickling.restore, as the Python class's does, so
   an event pickled under either twin loads as the twin the loading process
   runs (sse_asgi._event tells restore which). */
static PyObject *
event_reduce(Event *self, PyObject *Py_UNUSED(ignored))
{
    if (encoded_of(self) == NULL) {
        return NULL;
    }
    PyObject *pickling = PyImport_ImportModule("sse_asgi._pickling");
    if (pickling == NULL) {
        return NULL;
    }
    PyObject *restore = PyObject_GetAttrString(pickling, "restore");
    Py_DECREF(pickling);
    if (restore == NULL) {
        return NULL;
    }
    PyObject *result = Py_BuildValue("N(OOOOOOO)", restore, self->encoded, OR_NONE(self->data),
                                     OR_NONE(self->raw_data), OR_NONE(self->event),
                                     OR_NONE(self->id), OR_NONE(self->retry),
                                     OR_NONE(self->comment));
    return result;
}

static PyMethodDef event_methods[] = {
    {"encode", (PyCFunction)event_encode, METH_NOARGS,
     "encode($self, /)\n--\n\n"
     "The event as ``text/event-stream`` bytes: LF line endings, ending in a blank line."},
    {"__reduce__", (PyCFunction)event_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

#define MEMBER(name, field, doc) {name, T_OBJECT, offsetof(Event, field), READONLY, doc}

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

/* ---- module ------------------------------------------------------------------ */

/* The type, with the reference class's docstring behind a text signature
   (the docstring is copied into the type, so `doc` may go afterwards). */
static PyObject *
make_type(PyObject *module, PyObject *py_class)
{
    static const char signature[] =
        "ServerSentEvent(*, data=None, raw_data=None, event=None, id=None, retry=None, "
        "comment=None)\n--\n\n";
    PyObject *doc = PyObject_GetAttrString(py_class, "__doc__");
    if (doc == NULL) {
        return NULL;
    }
    const char *text = PyUnicode_Check(doc) ? PyUnicode_AsUTF8(doc) : "";
    char *type_doc = text ? PyMem_Malloc(sizeof(signature) + strlen(text)) : NULL;
    if (type_doc == NULL) {
        Py_DECREF(doc);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    strcpy(type_doc, signature);
    strcat(type_doc, text);
    Py_DECREF(doc);

    PyType_Slot slots[] = {
        {Py_tp_doc, type_doc},
        {Py_tp_new, event_new},
        {Py_tp_init, (initproc)event_init},
        {Py_tp_traverse, (traverseproc)event_traverse},
        {Py_tp_clear, (inquiry)event_clear},
        {Py_tp_dealloc, (destructor)event_dealloc},
        {Py_tp_richcompare, event_richcompare},
        {Py_tp_hash, (hashfunc)event_hash},
        {Py_tp_repr, (reprfunc)event_repr},
        {Py_tp_methods, event_methods},
        {Py_tp_members, event_members},
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = "sse_asgi._speedups.ServerSentEvent",
        .basicsize = sizeof(Event),
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC
                 | Py_TPFLAGS_IMMUTABLETYPE,
        .slots = slots,
    };
    PyObject *type = PyType_FromModuleAndSpec(module, &spec, NULL);
    PyMem_Free(type_doc);
    if (type != NULL) {
        /* Keyword calls of the exact type skip tp_new and tp_init. (No type
           slot sets this before Python 3.14.) */
        ((PyTypeObject *)type)->tp_vectorcall = event_vectorcall;
    }
    return type;
}

/* A new reference to module.attribute (an absolute module name). */
static PyObject *
import_from(const char *module_name, const char *attribute)
{
    PyObject *module = PyImport_ImportModule(module_name);
    if (module == NULL) {
        return NULL;
    }
    PyObject *value = PyObject_GetAttrString(module, attribute);
    Py_DECREF(module);
    return value;
}

static int
module_exec(PyObject *module)
{
    State *state = module_state(module);
    PyObject *options = NULL;
    if ((state->py_class = import_from("sse_asgi._event_py", "ServerSentEvent")) == NULL
        || (state->orjson_dumps = import_from("orjson", "dumps")) == NULL
        || (state->json_default = import_from("sse_asgi._json", "json_default")) == NULL
        || (state->dumps = import_from("sse_asgi._json", "dumps")) == NULL
        || (state->json_fallback = import_from("sse_asgi._json", "json_fallback")) == NULL
        || (state->orjson_native = import_from("sse_asgi._json", "ORJSON_NATIVE")) == NULL
        || (state->orjson_option = import_from("sse_asgi._json", "ORJSON_OPTION")) == NULL
        || (state->model_error = import_from("pydantic_core", "PydanticSerializationError"))
               == NULL
        || (options = import_from("sse_asgi._json", "MODEL_OPTIONS")) == NULL) {
        return -1;
    }
    if (!PyDict_Check(options)) {
        PyErr_SetString(PyExc_TypeError, "sse_asgi._json.MODEL_OPTIONS must be a dict");
        Py_DECREF(options);
        return -1;
    }
    /* A copy: keyword arguments for every model, fixed from here on. None
       when empty, so that to_json is called the quick way. */
    state->model_options = PyDict_GET_SIZE(options) > 0 ? PyDict_Copy(options) : NULL;
    Py_DECREF(options);
    if (PyErr_Occurred()) {
        return -1;
    }

    PyObject *name = PyUnicode_InternFromString("default");
    PyObject *option = PyUnicode_InternFromString("option");
    if (name != NULL && option != NULL) {
        state->default_kwnames = PyTuple_Pack(2, name, option);
    }
    Py_XDECREF(name);
    Py_XDECREF(option);
    if (state->default_kwnames == NULL
        || (state->str_serializer = PyUnicode_InternFromString("__pydantic_serializer__"))
               == NULL
        || (state->str_to_json = PyUnicode_InternFromString("to_json")) == NULL
        || (state->str_encode = PyUnicode_InternFromString("encode")) == NULL
        || (state->empty = PyBytes_FromString("\n")) == NULL) {
        return -1;
    }
    for (int i = 0; i < N_FIELDS; i++) {
        if ((state->field_strs[i] = PyUnicode_InternFromString(field_names[i])) == NULL) {
            return -1;
        }
    }

    PyObject *type = make_type(module, state->py_class);
    if (type == NULL) {
        return -1;
    }
    state->event_type = (PyTypeObject *)type;
    if (PyModule_AddObjectRef(module, "ServerSentEvent", type) < 0) {
        return -1;
    }
    PyObject *all = Py_BuildValue("[ss]", "ServerSentEvent", "rebuild");
    if (all == NULL || PyModule_AddObject(module, "__all__", all) < 0) {
        Py_XDECREF(all);
        return -1;
    }
    return 0;
}

static PyObject *
rebuild(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 1 + N_FIELDS || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "rebuild(encoded: bytes, data, raw_data, event, id, retry, comment)");
        return NULL;
    }
    State *state = module_state(module);
    PyObject *f[N_FIELDS];
    for (int i = 0; i < N_FIELDS; i++) {
        f[i] = args[1 + i] == Py_None ? NULL : args[1 + i];
    }
    return (PyObject *)event_alloc(state, state->event_type, f, args[0], -1);
}

static PyMethodDef module_methods[] = {
    {"rebuild", (PyCFunction)(void (*)(void))rebuild, METH_FASTCALL,
     "rebuild(encoded, data, raw_data, event, id, retry, comment, /)\n--\n\n"
     "An event from bytes this library encoded and the fields they came from, unchecked."},
    {NULL, NULL, 0, NULL},
};

static int
module_traverse(PyObject *module, visitproc visit, void *arg)
{
    State *state = module_state(module);
    Py_VISIT(state->event_type);
    Py_VISIT(state->py_class);
    Py_VISIT(state->orjson_dumps);
    Py_VISIT(state->json_default);
    Py_VISIT(state->orjson_option);
    Py_VISIT(state->dumps);
    Py_VISIT(state->json_fallback);
    Py_VISIT(state->model_options);
    Py_VISIT(state->orjson_native);
    Py_VISIT(state->model_error);
    return 0;
}

static int
module_clear(PyObject *module)
{
    State *state = module_state(module);
    Py_CLEAR(state->event_type);
    Py_CLEAR(state->py_class);
    Py_CLEAR(state->orjson_dumps);
    Py_CLEAR(state->json_default);
    Py_CLEAR(state->orjson_option);
    Py_CLEAR(state->dumps);
    Py_CLEAR(state->json_fallback);
    Py_CLEAR(state->model_options);
    Py_CLEAR(state->orjson_native);
    Py_CLEAR(state->model_error);
    Py_CLEAR(state->default_kwnames);
    Py_CLEAR(state->str_serializer);
    Py_CLEAR(state->str_to_json);
    Py_CLEAR(state->str_encode);
    Py_CLEAR(state->empty);
    for (int i = 0; i < N_FIELDS; i++) {
        Py_CLEAR(state->field_strs[i]);
    }
    return 0;
}

static void
module_free(void *module)
{
    (void)module_clear((PyObject *)module);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
#ifdef Py_mod_gil
    /* 3.13+: the state is read-only after exec and events are immutable. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sse_asgi._speedups",
    .m_doc = "ServerSentEvent construction in C: the compiled twin of sse_asgi._event_py.",
    .m_size = sizeof(State),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&module_def);
}
