//! Integration tests of the control loop: on the simulator (the embedded default).
mod interleave;
mod provenance;
mod sim;
mod support;
