"""Work that overlaps other work of the same operation.

A spawn waits on the engine, the kernel and OVSDB in turn; where two of
those waits need nothing of each other, one runs on a thread of its own.
"""

import threading


class Background:
    """``func(*args)`` on a thread of its own, started at once; :meth:`join`
    waits for it and returns what it returned, or raises what it raised,
    in the caller's thread."""

    def __init__(self, func, *args):
        self._error = self._result = None
        self._thread = threading.Thread(target=self._run, args=(func, args))
        self._thread.start()

    def _run(self, func, args):
        try:
            self._result = func(*args)
        except BaseException as e:  # re-raised by join
            self._error = e

    def join(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result
