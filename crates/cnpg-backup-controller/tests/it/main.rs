//! Integration tests of the control loop: on the simulator (the embedded default), and its
//! kube plumbing on the API double.
mod interleave;
mod kube_double;
mod provenance;
mod sim;
mod support;
