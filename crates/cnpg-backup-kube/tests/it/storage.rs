//! Object-storage adapter tests against a real S3 server on 127.0.0.1.
