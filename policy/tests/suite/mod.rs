pub mod common;
#[macro_use]
mod attack;

mod adversarial;
mod depth;
mod leak_correlated;
mod leak_errors;
mod leak_filters;
mod leak_groups;
mod leak_joins;
mod leak_members;
mod leak_names;
mod leak_order;
mod leak_predicates;
mod leak_redteam;
mod leak_redteam2;
mod leak_redteam3;
mod leak_redteam4;
mod leak_steps;
mod leak_values;
mod loading;
mod masks;
mod noninterference;
mod positive;
mod reload;
mod subjects;
mod units;
