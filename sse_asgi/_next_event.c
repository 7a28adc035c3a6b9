/* What a started Subscription's __anext__ returns on asyncio, in C.
 *
 * The pure-Python version is sse_asgi.broadcast._subscription._NextEvent,
 * whose docstring says what it does; this type does the same as a C
 * iterator, so a woken subscriber task resumes without a Python frame: one
 * publish to 10,000 subscribers wakes 10,000 tasks, and that per-wake cost is
 * most of a fan-out. CPython 3.10 and 3.11 step it through am_send (the event
 * is returned, no StopIteration is made); 3.12 and later, and any version
 * while a trace function is set, through tp_iternext.
 *
 * It keeps no state of its own: the subscription's queues, _last, _state and
 * _future are the truth, read and written through their attribute names; the
 * filter, a page read and the end are the subscription's own methods.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyObject *subscription;
    PyObject *create_future; /* the loop's create_future */
} NextEvent;

static PyObject *str_ready;        /* "_ready" */
static PyObject *str_queue;        /* "_queue" */
static PyObject *str_last;         /* "_last" */
static PyObject *str_filter;       /* "_filter" */
static PyObject *str_keep;         /* "_keep" */
static PyObject *str_event;        /* "event" */
static PyObject *str_state;        /* "_state" */
static PyObject *str_live;         /* "live" */
static PyObject *str_behind;       /* "behind" */
static PyObject *str_future;       /* "_future" */
static PyObject *str_read_in_task; /* "_read_in_task" */
static PyObject *str_raise_end;    /* "_raise_end" */
static PyObject *str_popleft;      /* "popleft" */
static PyObject *str_blocking;     /* "_asyncio_future_blocking" */

/* The next event to yield, as _NextEvent.__next__ takes it: _ready first,
 * then entries of _queue the filter keeps. New reference; Py_None if there
 * is none; NULL on error. */
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
    PyObject *result = NULL;
    while ((waiting = PyObject_Size(queue)) > 0) {
        PyObject *entry = PyObject_CallMethodNoArgs(queue, str_popleft);
        if (entry == NULL) {
            goto done;
        }
        if (PyObject_SetAttr(subscription, str_last, entry) < 0) {
            Py_DECREF(entry);
            goto done;
        }
        PyObject *event = PyObject_GetAttr(entry, str_event);
        Py_DECREF(entry);
        if (event == NULL) {
            goto done;
        }
        /* Read per entry: the filter may be anything, and may change. */
        PyObject *filter = PyObject_GetAttr(subscription, str_filter);
        if (filter == NULL) {
            Py_DECREF(event);
            goto done;
        }
        int keep = 1;
        if (filter != Py_None) {
            PyObject *verdict = PyObject_CallMethodOneArg(subscription, str_keep, event);
            keep = verdict == NULL ? -1 : PyObject_IsTrue(verdict);
            Py_XDECREF(verdict);
        }
        Py_DECREF(filter);
        if (keep != 0) {
            if (keep < 0) {
                Py_DECREF(event);
                goto done;
            }
            result = event;
            goto done;
        }
        Py_DECREF(event);
    }
    if (waiting == 0) {
        result = Py_NewRef(Py_None);
    }
done:
    Py_DECREF(queue);
    return result;
}

/* What to wait on when nothing is queued, as _NextEvent.__next__ chooses it:
 * live, a fresh future of the loop's, stored as the subscription's _future;
 * behind, the task reading the next page. Marked as one to wait on, as the
 * first step of `await future` does. New reference; NULL on error (the end of
 * the subscription raises StopAsyncIteration, or its error). */
static PyObject *
wait_on(NextEvent *self, PyObject *subscription)
{
    PyObject *state = PyObject_GetAttr(subscription, str_state);
    if (state == NULL) {
        return NULL;
    }
    int live = PyObject_RichCompareBool(state, str_live, Py_EQ);
    int behind = live != 0 ? 0 : PyObject_RichCompareBool(state, str_behind, Py_EQ);
    Py_DECREF(state);
    if (live < 0 || behind < 0) {
        return NULL;
    }
    PyObject *future;
    if (live) {
        future = PyObject_CallNoArgs(self->create_future);
        if (future != NULL && PyObject_SetAttr(subscription, str_future, future) < 0) {
            Py_CLEAR(future);
        }
    }
    else if (behind) {
        future = PyObject_CallMethodNoArgs(subscription, str_read_in_task);
    }
    else {
        PyObject *none = PyObject_CallMethodNoArgs(subscription, str_raise_end);
        Py_XDECREF(none); /* it raises */
        if (!PyErr_Occurred()) {
            PyErr_SetNone(PyExc_StopAsyncIteration);
        }
        return NULL;
    }
    if (future != NULL && PyObject_SetAttr(future, str_blocking, Py_True) < 0) {
        Py_CLEAR(future);
    }
    return future;
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
    Py_DECREF(event); /* nothing, or only filtered-out events */
    PyObject *future = wait_on(self, subscription);
    if (future == NULL) {
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
        "Awaiting it gives the subscription's next event (see broadcast._subscription._NextEvent)."),
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
    .m_doc = "A subscription's awaitable on asyncio, in C (see sse_asgi.broadcast._subscription).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__next_event(void)
{
    /* Once per process: the last string set means they all are. */
    if (str_blocking == NULL
        && ((str_ready = PyUnicode_InternFromString("_ready")) == NULL
        || (str_queue = PyUnicode_InternFromString("_queue")) == NULL
        || (str_last = PyUnicode_InternFromString("_last")) == NULL
        || (str_filter = PyUnicode_InternFromString("_filter")) == NULL
        || (str_keep = PyUnicode_InternFromString("_keep")) == NULL
        || (str_event = PyUnicode_InternFromString("event")) == NULL
        || (str_state = PyUnicode_InternFromString("_state")) == NULL
        || (str_live = PyUnicode_InternFromString("live")) == NULL
        || (str_behind = PyUnicode_InternFromString("behind")) == NULL
        || (str_future = PyUnicode_InternFromString("_future")) == NULL
        || (str_read_in_task = PyUnicode_InternFromString("_read_in_task")) == NULL
        || (str_raise_end = PyUnicode_InternFromString("_raise_end")) == NULL
        || (str_popleft = PyUnicode_InternFromString("popleft")) == NULL
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
