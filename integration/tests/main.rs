//! Whole-flow tests: three gateways on loopback with the demo data, checked against one
//! local DataFusion context holding the same tables. One test binary, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod integration;
