//! Integration tests of the control loop: on the simulator (the embedded default).
mod interleave;
mod sim;
mod support;
