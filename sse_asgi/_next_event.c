/* What a live Subscription's __anext__ returns on asyncio, in C.
 *
 * The pure-Python version is sse_asgi._broadcast._NextEvent, whose docstring
 * says what it does; this type does the same as a C iterator, so a woken
 * subscriber task resumes without a Python frame: one publish to 10,000
 * subscribers wakes 10,000 tasks, and that per-wake cost is most of a
 * fan-out. CPython 3.10 and 3.11 step it through am_send (the event is
 * returned, no StopIteration is made); 3.12 and later, and any version while
 * a trace function is set, through tp_iternext.
 *
 * It keeps no state of its own: the subscription's queues and its _future
 * are the truth, read and written through their attribute names. Taking
 * the next entry from the queue is Subscription._pop() and _take(); for the
 * common subscription (one topic, no filter) that is done here, and every
 * other one calls _pop().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyObject *subscription;
    PyObject *create_future; /* the loop's create_future */
} NextEvent;

static PyObject *str_ready;    /* "_ready" */
static PyObject *str_queue;    /* "_queue" */
static PyObject *str_state;    /* "_state" */
static PyObject *str_future;   /* "_future" */
static PyObject *str_pop;      /* "_pop" */
static PyObject *str_popleft;  /* "popleft" */
static PyObject *str_multi;    /* "_multi" */
static PyObject *str_filter;   /* "_filter" */
static PyObject *str_positions; /* "_positions" */
static PyObject *str_ids;      /* "_ids" */
static PyObject *str_key;      /* "key" */
static PyObject *str_id;       /* "id" */
static PyObject *str_event;    /* "event" */
static PyObject *str_ended;    /* "ended" */
static PyObject *str_blocking; /* "_asyncio_future_blocking" */

/* Subscription._take(entry) for one topic and no filter: the entry's event,
 * or None if the replay already delivered it. New reference; NULL on error. */
static PyObject *
take(PyObject *entry, PyObject *positions, PyObject *ids)
{
    PyObject *key = PyObject_GetAttr(entry, str_key);
    if (key == NULL) {
        return NULL;
    }
    if (PyList_GET_SIZE(positions) < 1) { /* code a comparison ran may have shrunk it */
        Py_DECREF(key);
        PyErr_SetString(PyExc_IndexError, "the subscription's positions are empty");
        return NULL;
    }
    /* A strong reference: the comparison may run Python code that replaces it. */
    PyObject *position = Py_NewRef(PyList_GET_ITEM(positions, 0));
    if (position != Py_None) {
        int seen = PyObject_RichCompareBool(key, position, Py_LE);
        if (seen != 0) {
            Py_DECREF(position);
            Py_DECREF(key);
            return seen < 0 ? NULL : Py_NewRef(Py_None);
        }
    }
    Py_DECREF(position);
    /* In _take's order. PyList_SetItem takes the item even when it fails. */
    if (PyList_SetItem(positions, 0, key) < 0) {
        return NULL;
    }
    PyObject *id = PyObject_GetAttr(entry, str_id);
    if (id == NULL || PyList_SetItem(ids, 0, id) < 0) {
        return NULL;
    }
    return PyObject_GetAttr(entry, str_event);
}

/* Subscription._pop(): the next event to yield, or None. New reference; NULL on error. */
static PyObject *
pop(PyObject *subscription)
{
    PyObject *ready = PyObject_GetAttr(subscription, str_ready);
    if (ready == NULL) {
        return NULL;
    }
    Py_ssize_t waiting = PyObject_Size(ready);
    if (waiting != 0) {
        PyObject *event = waiting < 0 ? NULL : PyObject_CallMethodNoArgs(ready, str_popleft);
        Py_DECREF(ready);
        return event;
    }
    Py_DECREF(ready);
    PyObject *queue = PyObject_GetAttr(subscription, str_queue);
    if (queue == NULL) {
        return NULL;
    }
    waiting = PyObject_Size(queue);
    if (waiting <= 0) {
        Py_DECREF(queue);
        return waiting < 0 ? NULL : Py_NewRef(Py_None);
    }
    PyObject *result = NULL, *multi = NULL, *filter = NULL, *positions = NULL, *ids = NULL;
    if ((multi = PyObject_GetAttr(subscription, str_multi)) == NULL
        || (filter = PyObject_GetAttr(subscription, str_filter)) == NULL
        || (positions = PyObject_GetAttr(subscription, str_positions)) == NULL
        || (ids = PyObject_GetAttr(subscription, str_ids)) == NULL) {
        goto done;
    }
    if (multi != Py_False || filter != Py_None || !PyList_CheckExact(positions)
        || PyList_GET_SIZE(positions) != 1 || !PyList_CheckExact(ids)
        || PyList_GET_SIZE(ids) != 1) {
        result = PyObject_CallMethodNoArgs(subscription, str_pop);
        goto done;
    }
    while ((waiting = PyObject_Size(queue)) > 0) {
        PyObject *entry = PyObject_CallMethodNoArgs(queue, str_popleft);
        if (entry == NULL) {
            goto done;
        }
        result = take(entry, positions, ids);
        Py_DECREF(entry);
        if (result != Py_None) {
            goto done; /* an event, or NULL on error */
        }
        Py_CLEAR(result);
    }
    if (waiting == 0) {
        result = Py_NewRef(Py_None);
    }
done:
    Py_DECREF(queue);
    Py_XDECREF(multi);
    Py_XDECREF(filter);
    Py_XDECREF(positions);
    Py_XDECREF(ids);
    return result;
}

static PySendResult
next_event_send(NextEvent *self, PyObject *arg, PyObject **result)
{
    (void)arg; /* a task sends None; the value is never used, as in _NextEvent */
    PyObject *subscription = self->subscription;
    *result = NULL;
    PyObject *event = pop(subscription);
    if (event == NULL) {
        return PYGEN_ERROR;
    }
    if (event != Py_None) {
        *result = event; /* the value of the await */
        return PYGEN_RETURN;
    }
    Py_DECREF(event); /* nothing, or only duplicates and filtered-out events */
    PyObject *state = PyObject_GetAttr(subscription, str_state);
    if (state == NULL) {
        return PYGEN_ERROR;
    }
    int ended = PyObject_RichCompareBool(state, str_ended, Py_EQ);
    Py_DECREF(state);
    if (ended < 0) {
        return PYGEN_ERROR;
    }
    if (ended) {
        PyErr_SetNone(PyExc_StopAsyncIteration);
        return PYGEN_ERROR;
    }
    PyObject *future = PyObject_CallNoArgs(self->create_future);
    if (future == NULL) {
        return PYGEN_ERROR;
    }
    /* What the first step of `await future` does: mark it as one to wait on
     * and yield it to the task, which resumes us when the broadcast resolves it. */
    if (PyObject_SetAttr(subscription, str_future, future) < 0
        || PyObject_SetAttr(future, str_blocking, Py_True) < 0) {
        Py_DECREF(future);
        return PYGEN_ERROR;
    }
    *result = future;
    return PYGEN_NEXT;
}

/* The same step as an iterator's __next__: what CPython 3.12+ calls, and
 * 3.10-3.11 while a trace function is set. */
static PyObject *
next_event_iternext(NextEvent *self)
{
    PyObject *result;
    PySendResult status = next_event_send(self, Py_None, &result);
    if (status == PYGEN_NEXT) {
        return result;
    }
    if (status == PYGEN_RETURN) {
        /* StopIteration(value), built explicitly: PyErr_SetObject would
         * unpack a tuple or take an exception as the exception itself. */
        PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, result);
        Py_DECREF(result);
        if (stop != NULL) {
            PyErr_SetObject(PyExc_StopIteration, stop);
            Py_DECREF(stop);
        }
    }
    return NULL;
}

static PyObject *
next_event_self(PyObject *self)
{
    return Py_NewRef(self);
}

/* Arguments are taken by tp_new, not __init__: an instance is never without
 * them, and calling __init__ again cannot swap them while a step runs. */
static PyObject *
next_event_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *subscription, *loop;
    static char *keywords[] = {"subscription", "loop", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:NextEvent", keywords, &subscription, &loop)) {
        return NULL;
    }
    PyObject *create_future = PyObject_GetAttrString(loop, "create_future");
    if (create_future == NULL) {
        return NULL;
    }
    NextEvent *self = (NextEvent *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(create_future);
        return NULL;
    }
    self->subscription = Py_NewRef(subscription);
    self->create_future = create_future;
    return (PyObject *)self;
}

static int
next_event_traverse(NextEvent *self, visitproc visit, void *arg)
{
    Py_VISIT(self->subscription);
    Py_VISIT(self->create_future);
    return 0;
}

static int
next_event_clear(NextEvent *self)
{
    Py_CLEAR(self->subscription);
    Py_CLEAR(self->create_future);
    return 0;
}

static void
next_event_dealloc(NextEvent *self)
{
    PyObject_GC_UnTrack(self);
    next_event_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyAsyncMethods next_event_async = {
    .am_await = (unaryfunc)next_event_self,
    .am_send = (sendfunc)next_event_send,
};

static PyTypeObject NextEventType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sse_asgi._next_event.NextEvent",
    .tp_doc = PyDoc_STR(
        "NextEvent(subscription, loop)\n--\n\n"
        "Awaiting it gives the subscription's next event (see _broadcast._NextEvent)."),
    .tp_basicsize = sizeof(NextEvent),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = next_event_new,
    .tp_dealloc = (destructor)next_event_dealloc,
    .tp_traverse = (traverseproc)next_event_traverse,
    .tp_clear = (inquiry)next_event_clear,
    .tp_as_async = &next_event_async,
    .tp_iter = next_event_self,
    .tp_iternext = (iternextfunc)next_event_iternext,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sse_asgi._next_event",
    .m_doc = "A live subscription's awaitable on asyncio, in C (see sse_asgi._broadcast).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__next_event(void)
{
    /* Once per process: the last string set means they all are. */
    if (str_blocking == NULL
        && ((str_ready = PyUnicode_InternFromString("_ready")) == NULL
        || (str_queue = PyUnicode_InternFromString("_queue")) == NULL
        || (str_state = PyUnicode_InternFromString("_state")) == NULL
        || (str_future = PyUnicode_InternFromString("_future")) == NULL
        || (str_pop = PyUnicode_InternFromString("_pop")) == NULL
        || (str_popleft = PyUnicode_InternFromString("popleft")) == NULL
        || (str_multi = PyUnicode_InternFromString("_multi")) == NULL
        || (str_filter = PyUnicode_InternFromString("_filter")) == NULL
        || (str_positions = PyUnicode_InternFromString("_positions")) == NULL
        || (str_ids = PyUnicode_InternFromString("_ids")) == NULL
        || (str_key = PyUnicode_InternFromString("key")) == NULL
        || (str_id = PyUnicode_InternFromString("id")) == NULL
        || (str_event = PyUnicode_InternFromString("event")) == NULL
        || (str_ended = PyUnicode_InternFromString("ended")) == NULL
        || (str_blocking = PyUnicode_InternFromString("_asyncio_future_blocking")) == NULL)) {
        return NULL;
    }
    if (PyType_Ready(&NextEventType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "NextEvent", (PyObject *)&NextEventType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
