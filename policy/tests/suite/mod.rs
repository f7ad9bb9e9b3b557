pub mod common;

mod adversarial;
mod loading;
mod masks;
mod positive;
mod reload;
mod units;
