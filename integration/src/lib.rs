//! Whole-flow tests live in tests/.
