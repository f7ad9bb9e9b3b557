mod audit;
mod chain_faults;
mod common;
mod errors;
mod federated_sql;
mod policy;
mod pushdown;
