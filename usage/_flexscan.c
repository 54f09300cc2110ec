/* The fast path of usage.parsers in C: plain event lines of a dated FlexNet debug log.

   scan(block, offset, day, last_seconds, number, items) reads the lines of ``block`` from byte
   ``offset`` while each is a plain event line (the shape usage.parsers' fast path accepts:
   ``HH:MM:SS (daemon) KEYWORD: "feature" user@host  (N licenses)  (reason)``, printable ASCII,
   every field within its limits), appends one ``Event`` per line to ``items`` and stops at the
   first line that is anything else, which the caller reads with the careful path. It returns
   ``(offset, day, last_seconds, number, events)``: the start of the line it stopped at (past
   the end of the block when it read all), the date after any midnight roll-over (the clock going
   backwards), the clock of the last line read, the number of the last line read and how many
   events it made.

   It accepts a subset of what the Python fast path accepts and reads it the same way:
   tests/usage/test_parsers.py checks both against the careful path, line by line. The GIL is
   held throughout; the string table is per process. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <string.h>

static PyObject *event_type;      /* usage.parsers.Event (a tuple subclass) */
static PyObject *kinds[6];        /* OUT, IN, DENIED, QUEUED, DEQUEUED, UNSUPPORTED */
static PyObject *empty_text;      /* "" */
static PyObject *one_day;         /* timedelta(days=1) */

/* Interned texts (daemons, features, users, hosts, reasons): open addressing, cleared when half
   full, so a log of distinct names stays bounded. */
#define TABLE_SIZE 65536
static PyObject *table[TABLE_SIZE];
static Py_ssize_t table_used;

static void table_clear(void) {
    for (Py_ssize_t i = 0; i < TABLE_SIZE; i++) {
        Py_CLEAR(table[i]);
    }
    table_used = 0;
}

static PyObject *text_of(const char *start, Py_ssize_t size) {
    /* A new reference to the str of ``size`` ASCII bytes at ``start``. */
    uint64_t hash = 1469598103934665603ULL;
    for (Py_ssize_t i = 0; i < size; i++) {
        hash = (hash ^ (unsigned char)start[i]) * 1099511628211ULL;
    }
    size_t slot = (size_t)(hash ^ (hash >> 29)) & (TABLE_SIZE - 1);
    for (;;) {
        PyObject *found = table[slot];
        if (found == NULL) {
            break;
        }
        if (PyUnicode_GET_LENGTH(found) == size && memcmp(PyUnicode_1BYTE_DATA(found), start, size) == 0) {
            Py_INCREF(found);
            return found;
        }
        slot = (slot + 1) & (TABLE_SIZE - 1);
    }
    PyObject *text = PyUnicode_New(size, 127);
    if (text == NULL) {
        return NULL;
    }
    memcpy(PyUnicode_1BYTE_DATA(text), start, size);
    if (table_used >= TABLE_SIZE / 2) {
        table_clear();
        return text;
    }
    Py_INCREF(text);
    table[slot] = text;
    table_used++;
    return text;
}

/* Character classes of the fast path's expressions (usage.parsers._FAST_HEAD, _FAST_TAIL). */
static int is_daemon(unsigned char c) { return c >= '!' && c <= '~' && c != '(' && c != ')' && c != '"'; }
static int is_feature(unsigned char c) { return c >= ' ' && c <= '~' && c != '"'; }
static int is_user(unsigned char c) { return c >= '!' && c <= '~' && c != '"' && c != '@'; }
static int is_host(unsigned char c) { return c >= '!' && c <= '~'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_trailing(unsigned char c) { return c == ' ' || c == '\t' || c == '\r'; }

typedef struct {
    int seconds;
    int kind;
    const char *daemon, *feature, *user, *host, *reason;
    Py_ssize_t daemon_size, feature_size, user_size, host_size, reason_size;
    long count;
} Line;

static int two_digits(const unsigned char *p, int most) {
    /* The value of two digits up to ``most``, or -1. */
    if (!is_digit(p[0]) || !is_digit(p[1])) {
        return -1;
    }
    int value = (p[0] - '0') * 10 + (p[1] - '0');
    return value <= most ? value : -1;
}

static int read_clock(const unsigned char *p, Py_ssize_t size) {
    /* Seconds of the day of ``HH:MM:SS `` (hours space- or zero-padded), or -1. */
    if (size < 9 || p[2] != ':' || p[5] != ':' || p[8] != ' ') {
        return -1;
    }
    int hours = p[0] == ' ' ? (is_digit(p[1]) ? p[1] - '0' : -1) : two_digits(p, 23);
    int minutes = two_digits(p + 3, 59), seconds = two_digits(p + 6, 59);
    if (hours < 0 || minutes < 0 || seconds < 0) {
        return -1;
    }
    return hours * 3600 + minutes * 60 + seconds;
}

static const char *keywords[6] = {"OUT", "IN", "DENIED", "QUEUED", "DEQUEUED", "UNSUPPORTED"};

static Py_ssize_t read_head(const unsigned char *p, Py_ssize_t size, Line *line) {
    /* ``(daemon) KEYWORD: "feature" `` at ``p``: the bytes read, or -1. */
    Py_ssize_t at = 0, start;
    if (size < 1 || p[0] != '(') {
        return -1;
    }
    start = ++at;
    while (at < size && is_daemon(p[at])) {
        at++;
    }
    line->daemon = (const char *)p + start;
    line->daemon_size = at - start;
    if (line->daemon_size < 1 || line->daemon_size > 64 || at + 2 > size || p[at] != ')' || p[at + 1] != ' ') {
        return -1;
    }
    at += 2;
    line->kind = -1;
    for (int k = 0; k < 6; k++) {
        Py_ssize_t length = (Py_ssize_t)strlen(keywords[k]);
        if (at + length + 3 <= size && memcmp(p + at, keywords[k], length) == 0 && p[at + length] == ':') {
            line->kind = k;
            at += length;
            break;
        }
    }
    if (line->kind < 0 || p[at + 1] != ' ' || p[at + 2] != '"') {
        return -1;
    }
    start = at += 3;
    while (at < size && is_feature(p[at])) {
        at++;
    }
    line->feature = (const char *)p + start;
    line->feature_size = at - start;
    if (line->feature_size < 1 || line->feature_size > 255 || at + 2 > size || p[at] != '"' || p[at + 1] != ' ') {
        return -1;
    }
    return at + 2;
}

static Py_ssize_t counts_in(const unsigned char *p, Py_ssize_t size) {
    /* How often ``\((\d{1,6}) licenses?\)`` occurs in ``p`` (the careful path reads any). */
    Py_ssize_t found = 0;
    for (Py_ssize_t at = 0; at < size; at++) {
        if (p[at] != '(') {
            continue;
        }
        Py_ssize_t digits = 0;
        while (at + 1 + digits < size && is_digit(p[at + 1 + digits])) {
            digits++;
        }
        Py_ssize_t next = at + 1 + digits;
        if (digits < 1 || digits > 6 || next + 8 > size || memcmp(p + next, " license", 8) != 0) {
            continue;
        }
        next += 8;
        if (next < size && p[next] == 's') {
            next++;
        }
        if (next < size && p[next] == ')') {
            found++;
        }
    }
    return found;
}

static Py_ssize_t read_count(const unsigned char *p, Py_ssize_t size, long *count) {
    /* ``  (N licenses)`` or ``  (1 license)`` at ``p`` (N without a leading zero, at most six
       digits): the bytes read, or 0 when there is none. */
    Py_ssize_t at = 3, digits = 0;
    if (size < 4 || p[0] != ' ' || p[1] != ' ' || p[2] != '(' || p[3] < '1' || p[3] > '9') {
        return 0;
    }
    long value = 0;
    while (at < size && is_digit(p[at]) && digits < 6) {
        value = value * 10 + (p[at] - '0');
        at++;
        digits++;
    }
    if (at + 8 > size || memcmp(p + at, " license", 8) != 0) {
        return 0;
    }
    at += 8;
    if (at < size && p[at] == 's') {
        at++;
    }
    if (at >= size || p[at] != ')') {
        return 0;
    }
    *count = value;
    return at + 1;
}

static int read_reason(const unsigned char *p, Py_ssize_t size, Line *line) {
    /* ``  (reason)`` then at most 64 spaces, tabs or CRs up to the end; or only those. The
       reason ends at the last ``)``, as the fast path's greedy expression reads it. */
    Py_ssize_t end = size;
    while (end > 0 && is_trailing(p[end - 1])) {
        end--;
    }
    if (size - end > 64) {
        return 0;
    }
    line->reason_size = 0;
    if (end == 0) {
        return 1;
    }
    if (end < 5 || p[0] != ' ' || p[1] != ' ' || p[2] != '(' || p[end - 1] != ')') {
        return 0;
    }
    for (Py_ssize_t at = 3; at < end - 1; at++) {
        if (p[at] < ' ' || p[at] > '~') {
            return 0;
        }
    }
    line->reason = (const char *)p + 3;
    line->reason_size = end - 4;
    return line->reason_size <= 255;
}

static int read_tail(const unsigned char *p, Py_ssize_t size, Line *line) {
    /* ``user@host`` with an optional count and reason, trailing blanks allowed. */
    Py_ssize_t at = 0;
    while (at < size && is_user(p[at])) {
        at++;
    }
    line->user = (const char *)p;
    line->user_size = at;
    if (at < 1 || at > 255 || at >= size || p[at] != '@') {
        return 0;
    }
    Py_ssize_t start = ++at;
    while (at < size && is_host(p[at])) {
        at++;
    }
    line->host = (const char *)p + start;
    line->host_size = at - start;
    if (line->host_size < 1 || line->host_size > 255) {
        return 0;
    }
    line->count = 1;
    Py_ssize_t counted = read_count(p + at, size - at, &line->count);
    if (!read_reason(p + at + counted, size - at - counted, line)) {
        return 0;
    }
    if (counts_in(p, size) != (counted ? 1 : 0)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i + 10 <= size; i++) { /* "started on" is the careful path's */
        if (p[i] == 's' && memcmp(p + i, "started on", 10) == 0) {
            return 0;
        }
    }
    return 1;
}

static int read_line(const unsigned char *p, Py_ssize_t size, Line *line) {
    if (size > 2048) {
        return 0;
    }
    line->seconds = read_clock(p, size);
    if (line->seconds < 0) {
        return 0;
    }
    Py_ssize_t head = read_head(p + 9, size - 9, line);
    return head >= 0 && read_tail(p + 9 + head, size - 9 - head, line);
}

static PyObject *make_event(Py_ssize_t number, PyObject *time, const Line *line) {
    PyObject *fields[9] = {
        PyLong_FromSsize_t(number),
        time,
        text_of(line->daemon, line->daemon_size),
        kinds[line->kind],
        text_of(line->feature, line->feature_size),
        text_of(line->user, line->user_size),
        text_of(line->host, line->host_size),
        PyLong_FromLong(line->count),
        line->reason_size ? text_of(line->reason, line->reason_size) : empty_text,
    };
    Py_INCREF(time);
    Py_INCREF(kinds[line->kind]);
    if (!line->reason_size) {
        Py_INCREF(empty_text);
    }
    PyObject *event = ((PyTypeObject *)event_type)->tp_alloc((PyTypeObject *)event_type, 9);
    for (int i = 0; i < 9; i++) {
        if (fields[i] == NULL || event == NULL) {
            for (int j = 0; j < 9; j++) {
                Py_XDECREF(fields[j]);
            }
            Py_XDECREF(event);
            return NULL;
        }
    }
    for (int i = 0; i < 9; i++) {
        PyTuple_SET_ITEM(event, i, fields[i]);
    }
    /* Only strings, numbers and a datetime: no cycle can go through it, so the collector need
       not look at it (CPython untracks such tuples itself, at its next pass). */
    PyObject_GC_UnTrack(event);
    return event;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer block;
    Py_ssize_t offset, number, events = 0;
    int last_seconds;
    PyObject *day, *items, *time = NULL;
    int time_seconds = -1;
    if (event_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup() first");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*nOinO!", &block, &offset, &day, &last_seconds, &number, &PyList_Type, &items)) {
        return NULL;
    }
    if (day != Py_None && !PyDate_Check(day)) {
        PyBuffer_Release(&block);
        PyErr_SetString(PyExc_TypeError, "day must be a date or None");
        return NULL;
    }
    if (offset < 0) {
        offset = 0;
    }
    Py_INCREF(day);
    const unsigned char *data = block.buf;
    Py_ssize_t size = block.len;
    while (offset <= size && day != Py_None) {
        const unsigned char *end = memchr(data + offset, '\n', size - offset);
        Py_ssize_t line_end = end ? end - data : size;
        Line line = {0};
        if (!read_line(data + offset, line_end - offset, &line)) {
            break;
        }
        if (line.seconds < last_seconds) { /* the clock went backwards: the next day */
            PyObject *next = PyNumber_Add(day, one_day);
            if (next == NULL) {
                goto failed;
            }
            Py_SETREF(day, next);
            Py_CLEAR(time);
        }
        if (time == NULL || line.seconds != time_seconds) {
            Py_XDECREF(time);
            time = PyDateTimeAPI->DateTime_FromDateAndTime(
                PyDateTime_GET_YEAR(day), PyDateTime_GET_MONTH(day), PyDateTime_GET_DAY(day), line.seconds / 3600,
                line.seconds / 60 % 60, line.seconds % 60, 0, Py_None, PyDateTimeAPI->DateTimeType);
            if (time == NULL) {
                goto failed;
            }
            time_seconds = line.seconds;
        }
        PyObject *event = make_event(number + 1, time, &line);
        if (event == NULL || PyList_Append(items, event) < 0) {
            Py_XDECREF(event);
            goto failed;
        }
        Py_DECREF(event);
        number++;
        events++;
        last_seconds = line.seconds;
        offset = line_end + 1;
    }
    Py_XDECREF(time);
    PyBuffer_Release(&block);
    return Py_BuildValue("nNinn", offset, day, last_seconds, number, events);
failed:
    Py_XDECREF(time);
    Py_DECREF(day);
    PyBuffer_Release(&block);
    return NULL;
}

static PyObject *setup(PyObject *self, PyObject *args) {
    PyObject *event, *kind_list, *empty, *day;
    if (!PyArg_ParseTuple(args, "O!O!UO", &PyType_Type, &event, &PyTuple_Type, &kind_list, &empty, &day)) {
        return NULL;
    }
    if (!PyType_IsSubtype((PyTypeObject *)event, &PyTuple_Type) || PyTuple_GET_SIZE(kind_list) != 6 ||
        !PyDelta_Check(day)) {
        PyErr_SetString(PyExc_TypeError, "setup(Event, six kinds, '', timedelta(days=1))");
        return NULL;
    }
    Py_INCREF(event);
    Py_XSETREF(event_type, event);
    for (int k = 0; k < 6; k++) {
        PyObject *kind = PyTuple_GET_ITEM(kind_list, k);
        Py_INCREF(kind);
        Py_XSETREF(kinds[k], kind);
    }
    Py_INCREF(empty);
    Py_XSETREF(empty_text, empty);
    Py_INCREF(day);
    Py_XSETREF(one_day, day);
    table_clear();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "setup(Event, kinds, empty_text, one_day): the types scan() makes."},
    {"scan", scan, METH_VARARGS,
     "scan(block, offset, day, last_seconds, number, items) -> (offset, day, last_seconds, number, events)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_flexscan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__flexscan(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
