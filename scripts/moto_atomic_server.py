"""moto_server with atomic conditional writes, for the tests (scripts/with_moto.sh).

moto 5.2.1 checks `If-None-Match: *` and `If-Match` on PUT (and on multipart completion),
then stores the object, without a lock while its threaded server handles requests
concurrently: two concurrent create-only PUTs of one key can both succeed (seen in
ObjectStoreContractTest.ConcurrentCreateOnlyHasExactlyOneWinner). Real S3 decides such
races atomically, and VecPuff's correctness rests on that, so this wrapper serializes the
handlers that check a condition and then write. A GET racing a PUT or DELETE of its key
can also read the replaced object's storage after moto has closed it and answer HTTP 500
(seen in ObjectStoreContractTest.ConcurrentCasIncrementsLoseNoUpdate/S3 on a loaded
machine), so object GETs and DELETEs take the same lock. (moto runs under the GIL anyway:
the lock costs little concurrency.) Everything else is moto's own server.

Usage: python3 scripts/moto_atomic_server.py [moto_server arguments]
"""

import sys
import threading

from moto.s3.responses import S3Response
from moto.server import main

_LOCK = threading.RLock()


def _atomic(method):
    def wrapper(self, *args, **kwargs):
        with _LOCK:
            return method(self, *args, **kwargs)

    wrapper.__name__ = method.__name__
    return wrapper


# PUT object (If-None-Match / If-Match) and POST on a key (CompleteMultipartUpload with
# If-None-Match).
S3Response.put_object = _atomic(S3Response.put_object)
S3Response._key_response_post = _atomic(S3Response._key_response_post)
# GET and DELETE of an object, against a concurrent replacement.
S3Response.get_object = _atomic(S3Response.get_object)
S3Response._key_response_delete = _atomic(S3Response._key_response_delete)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
