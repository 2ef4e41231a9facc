//! Integration tests of the control loop: on the simulator (the embedded default).
mod sim;
mod support;
