//! Object-storage adapter (object_store): preflight, storage presence, bucket catalog.
