/* What a live Subscription's __anext__ returns on asyncio, in C.
 *
 * The pure-Python version is sse_asgi._broadcast._NextEvent, whose docstring
 * says what it does; this type does the same through the am_send slot, so a
 * woken subscriber task resumes without a Python frame and without raising
 * StopIteration to hand over the event: one publish to 10,000 subscribers
 * wakes 10,000 tasks, and that per-wake cost is most of a fan-out.
 *
 * It keeps no state of its own: the subscription's queues and its _future
 * are the truth, read and written through their attribute names, and
 * anything but an empty queue is left to the subscription's own _pop().
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
static PyObject *str_ended;    /* "ended" */
static PyObject *str_blocking; /* "_asyncio_future_blocking" */

/* Whether the subscription's attribute `name` is a non-empty container: -1 on error. */
static int
has_items(PyObject *subscription, PyObject *name)
{
    PyObject *items = PyObject_GetAttr(subscription, name);
    if (items == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(items);
    Py_DECREF(items);
    return truth;
}

static PySendResult
next_event_send(NextEvent *self, PyObject *arg, PyObject **result)
{
    (void)arg; /* a task sends None; the value is never used, as in _NextEvent */
    PyObject *subscription = self->subscription;
    *result = NULL;
    int waiting = has_items(subscription, str_ready);
    if (waiting == 0) {
        waiting = has_items(subscription, str_queue);
    }
    if (waiting < 0) {
        return PYGEN_ERROR;
    }
    if (waiting) {
        PyObject *event = PyObject_CallMethodNoArgs(subscription, str_pop);
        if (event == NULL) {
            return PYGEN_ERROR;
        }
        if (event != Py_None) {
            *result = event; /* the value of the await */
            return PYGEN_RETURN;
        }
        Py_DECREF(event); /* everything queued was a duplicate or filtered out */
    }
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

/* The same step as an iterator's __next__: for callers that do not use
 * am_send (CPython while a trace function is set). */
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

static int
next_event_init(NextEvent *self, PyObject *args, PyObject *kwargs)
{
    PyObject *subscription, *loop;
    static char *keywords[] = {"subscription", "loop", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:_NextEvent", keywords, &subscription, &loop)) {
        return -1;
    }
    PyObject *create_future = PyObject_GetAttrString(loop, "create_future");
    if (create_future == NULL) {
        return -1;
    }
    Py_XSETREF(self->create_future, create_future);
    Py_XSETREF(self->subscription, Py_NewRef(subscription));
    return 0;
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
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)next_event_init,
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
    if ((str_ready = PyUnicode_InternFromString("_ready")) == NULL
        || (str_queue = PyUnicode_InternFromString("_queue")) == NULL
        || (str_state = PyUnicode_InternFromString("_state")) == NULL
        || (str_future = PyUnicode_InternFromString("_future")) == NULL
        || (str_pop = PyUnicode_InternFromString("_pop")) == NULL
        || (str_ended = PyUnicode_InternFromString("ended")) == NULL
        || (str_blocking = PyUnicode_InternFromString("_asyncio_future_blocking")) == NULL) {
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
