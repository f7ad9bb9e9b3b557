//! The gRPC side of a gateway: the service analysts and peers call ([`service`]), and how
//! errors travel as status codes with structured details ([`status`]).

pub mod service;
pub mod status;
