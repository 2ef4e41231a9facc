//! The HTTP API against a bound server, with a real HTTP client: on the embedded default
//! (every route, statuses, refusals, limits, events) and with Kubernetes token and access
//! reviews answered as the real API server answers them.

mod harness;
mod kube_access;
mod routes;
mod safety;
mod workflow;
