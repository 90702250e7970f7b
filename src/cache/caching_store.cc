// Placeholder so the library builds until the implementation lands.
#include "cache/caching_store.h"
